"""Settings of the VAE family, with documented defaults, and the builder the driver calls."""

import dataclasses
from typing import Literal

import keras

from kgen.distributions import get_likelihood
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import at_least
from kgen.models.config_fields import auto_likelihood
from kgen.models.config_fields import class_count
from kgen.models.config_fields import positive
from kgen.models.config_fields import setting
from kgen.models.registry import ModelFamily
from kgen.models.registry import register_family
from kgen.models.vae import VAE
from kgen.networks import build_vae_decoder
from kgen.networks import build_vae_encoder


@dataclasses.dataclass
class VAEConfig(CheckedSettings):
    """Hyperparameters of a VAE; defaults suit 28x28 MNIST on a CPU."""

    latent_dim: int = setting(32, "Size of the latent code z.", at_least(1))
    architecture: Literal["conv", "mlp"] = setting(
        "conv", "Encoder/decoder networks: convolutional or fully connected."
    )
    likelihood: Literal["auto", "bernoulli", "logistic"] = setting(
        "auto",
        "p(x|z): bernoulli (dynamically binarized) or logistic (discretized, 8-bit); auto "
        "picks bernoulli for 1 channel and logistic for colour.",
    )
    beta: float = setting(1.0, "Weight of the KL term (1 gives the ELBO).", at_least(0))
    conditional: bool = setting(False, "Condition encoder and decoder on class labels (CVAE).")
    base_filters: int = setting(
        32, "Filters of the first conv stage; doubled at each stage.", at_least(1)
    )
    hidden_units: int = setting(
        512, "Width of the dense layer around the latent code.", at_least(1)
    )
    learning_rate: float = setting(1e-3, "Adam learning rate.", positive())


def build_vae(config, dataset_info, seed=None, jit_compile=False):
    """Networks, model and optimizer for `config` on data shaped like `dataset_info`."""
    likelihood = auto_likelihood(config.likelihood, dataset_info.image_shape[-1], "logistic")
    num_classes = class_count(config.conditional, dataset_info)
    networks = dict(
        architecture=config.architecture,
        base_filters=config.base_filters,
        hidden_units=config.hidden_units,
        num_classes=num_classes,
    )
    params_per_channel = get_likelihood(likelihood).params_per_channel
    model = VAE(
        encoder=build_vae_encoder(dataset_info.image_shape, config.latent_dim, **networks),
        decoder=build_vae_decoder(
            dataset_info.image_shape, config.latent_dim, params_per_channel, **networks
        ),
        likelihood=likelihood,
        beta=config.beta,
        num_classes=num_classes,
        seed=seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile)
    return model


VAE_FAMILY = register_family(
    ModelFamily(
        name="vae",
        config_class=VAEConfig,
        build=build_vae,
        default_dataset="mnist",
        summary="Variational auto-encoder (ELBO, IWAE), optionally class-conditional.",
    )
)
