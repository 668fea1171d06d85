"""Settings of the GAN and WGAN-GP families, with documented defaults, and their builders."""

import dataclasses
from typing import Literal

import keras

from kgen.errors import ConfigError
from kgen.layers.augmentation import parse_policy
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import at_least
from kgen.models.config_fields import class_count
from kgen.models.config_fields import positive
from kgen.models.config_fields import setting
from kgen.models.config_fields import unit_interval
from kgen.models.gan import GAN
from kgen.models.registry import ModelFamily
from kgen.models.registry import register_family
from kgen.models.wgan_gp import WGANGP
from kgen.networks import build_discriminator
from kgen.networks import build_generator


@dataclasses.dataclass
class _AdversarialConfig(CheckedSettings):
    """Settings both adversarial families share."""

    latent_dim: int = setting(100, "Size of the latent code z.", at_least(1))
    base_filters: int = setting(
        64,
        "Filters of the discriminator's first stage (and the generator's last); doubled per stage.",
        at_least(1),
    )
    mapping_layers: int = setting(
        2,
        "Dense layers (batch norm, ReLU) that map z before the generator's projection; 0: "
        "none (z is projected linearly, as in DCGAN).",
        at_least(0),
        recorded_before=0,
    )
    mapping_units: int = setting(256, "Units of each --mapping-layers layer.", at_least(1))
    d_hidden_units: int = setting(
        0,
        "Units of a dense layer between the discriminator's convolutions and its score; 0: none.",
        at_least(0),
    )
    ema_decay: float = setting(
        0.999,
        "Decay of the generator's weight average used for sampling and export.",
        unit_interval(),
    )
    conditional: bool = setting(False, "Condition generator and discriminator on class labels.")
    spectral_norm: bool = setting(
        False,
        "Spectrally normalize the discriminator's layers (Miyato et al. 2018); it then has "
        "no batch or layer norm.",
    )
    augment: str = setting(
        "none",
        "DiffAugment policy for the discriminator's inputs, real and fake alike: 'none' or a "
        "comma-separated subset of color,translation,cutout (Zhao et al. 2020).",
    )
    d_learning_rate: float | None = setting(
        None,
        "Adam learning rate of the discriminator.",
        positive(),
        shown_default="--learning-rate",
    )
    g_learning_rate: float | None = setting(
        None,
        "Adam learning rate of the generator.",
        positive(),
        shown_default="--learning-rate",
    )

    def __post_init__(self):
        super().__post_init__()
        try:
            parse_policy(self.augment)
        except ValueError as error:
            raise ConfigError(f"--augment: {error}") from None


@dataclasses.dataclass
class GANConfig(_AdversarialConfig):
    """Hyperparameters of a DCGAN; defaults follow Radford et al. (2015), except the mapping
    layers on z, chosen by measurement (docs/results.md)."""

    loss: Literal["non-saturating", "minimax", "hinge"] = setting(
        "non-saturating",
        "Adversarial loss: logistic D with G minimizing -log D(G(z)) (non-saturating) or "
        "log(1 - D(G(z))) (minimax, saturates); or hinge D with G minimizing -D(G(z)).",
    )
    d_steps: int = setting(1, "Discriminator steps per generator step.", at_least(1))
    label_smoothing: float = setting(
        0.0,
        "One-sided label smoothing: real targets become 1 - this (logistic losses only).",
        unit_interval(),
    )
    r1_weight: float = setting(
        0.0,
        "Weight gamma of the R1 penalty (gamma / 2) ||grad D(x)||^2 on real images (D then "
        "has layer norm, not batch norm); 0: none.",
        at_least(0),
    )
    r1_every: int = setting(
        1, "Compute R1 every this many discriminator steps, scaled by it (lazy R1).", at_least(1)
    )

    learning_rate: float = setting(
        2e-4,
        "Adam learning rate of both networks, unless --d-learning-rate or "
        "--g-learning-rate sets one.",
        positive(),
    )
    beta_1: float = setting(0.5, "Adam beta_1 of both networks.", unit_interval())

    def __post_init__(self):
        super().__post_init__()
        if self.loss == "hinge" and self.label_smoothing:
            raise ConfigError(
                f"--label-smoothing {self.label_smoothing} smooths the logistic losses' "
                "targets; the hinge loss has none. Drop it, or use another --loss."
            )


@dataclasses.dataclass
class WGANGPConfig(_AdversarialConfig):
    """Hyperparameters of a WGAN-GP; defaults follow Gulrajani et al. (2017)."""

    d_steps: int = setting(5, "Critic steps per generator step.", at_least(1))
    gp_weight: float = setting(10.0, "Weight lambda of the gradient penalty.", at_least(0))
    lipschitz: Literal["gradient-penalty", "clip"] = setting(
        "gradient-penalty",
        "Keep the critic 1-Lipschitz by the gradient penalty, or by weight clipping (WGAN).",
    )
    clip_value: float = setting(
        0.01, "Weight bound of the critic under --lipschitz clip.", positive()
    )
    learning_rate: float = setting(
        1e-4,
        "Adam learning rate of both networks, unless --d-learning-rate or "
        "--g-learning-rate sets one.",
        positive(),
    )
    beta_1: float = setting(0.0, "Adam beta_1 of both networks.", unit_interval())


def _networks(config, dataset_info, normalization):
    """The generator and discriminator; `normalization` is the discriminator's unless it is
    spectrally normalized, which then stands in for any normalization layer."""
    num_classes = class_count(config.conditional, dataset_info)
    shape = dataset_info.image_shape
    generator = build_generator(
        shape,
        config.latent_dim,
        base_filters=config.base_filters,
        num_classes=num_classes,
        mapping_layers=config.mapping_layers,
        mapping_units=config.mapping_units,
    )
    discriminator = build_discriminator(
        shape,
        base_filters=config.base_filters,
        normalization="none" if config.spectral_norm else normalization,
        num_classes=num_classes,
        spectral_norm=config.spectral_norm,
        hidden_units=config.d_hidden_units,
    )
    return generator, discriminator, num_classes


def _compile(model, config, jit_compile, beta_2=0.999):
    def adam(learning_rate):
        return keras.optimizers.Adam(
            config.learning_rate if learning_rate is None else learning_rate,
            beta_1=config.beta_1,
            beta_2=beta_2,
        )

    model.compile(
        d_optimizer=adam(config.d_learning_rate),
        g_optimizer=adam(config.g_learning_rate),
        jit_compile=jit_compile,
    )
    return model


def build_gan(config, dataset_info, seed=None, jit_compile=False):
    """Networks, model and optimizers for `config` on data shaped like `dataset_info`.

    D has batch norm (DCGAN) unless R1 is on: R1 penalizes each real image's own input
    gradient, which batch norm would tie to the rest of the batch, so D then normalizes
    each example by itself (layer norm), as the WGAN-GP critic does. Spectral norm replaces
    either (see `_networks`)."""
    normalization = "layer" if config.r1_weight else "batch"
    generator, discriminator, num_classes = _networks(config, dataset_info, normalization)
    model = GAN(
        generator,
        discriminator,
        loss=config.loss,
        d_steps=config.d_steps,
        label_smoothing=config.label_smoothing,
        r1_weight=config.r1_weight,
        r1_every=config.r1_every,
        ema_decay=config.ema_decay,
        augment=config.augment,
        num_classes=num_classes,
        seed=seed,
    )
    return _compile(model, config, jit_compile)


def build_wgan_gp(config, dataset_info, seed=None, jit_compile=False):
    """As `build_gan`, with a layer-normalized critic (the penalty is per example)."""
    generator, critic, num_classes = _networks(config, dataset_info, "layer")
    model = WGANGP(
        generator,
        critic,
        gp_weight=config.gp_weight,
        d_steps=config.d_steps,
        lipschitz=config.lipschitz,
        clip_value=config.clip_value,
        ema_decay=config.ema_decay,
        augment=config.augment,
        num_classes=num_classes,
        seed=seed,
    )
    return _compile(model, config, jit_compile, beta_2=0.9)


GAN_FAMILY = register_family(
    ModelFamily(
        name="gan",
        config_class=GANConfig,
        build=build_gan,
        default_dataset="mnist",
        summary=(
            "DCGAN with dense mapping layers on z: non-saturating, minimax or hinge loss, EMA "
            "generator, optionally conditional."
        ),
    )
)
WGAN_GP_FAMILY = register_family(
    ModelFamily(
        name="wgan-gp",
        config_class=WGANGPConfig,
        build=build_wgan_gp,
        default_dataset="mnist",
        summary=(
            "WGAN-GP: Wasserstein critic with gradient penalty (or weight clipping), EMA generator."
        ),
        # Five critic steps with a double backward pass each: about 100 images/s on a
        # 2-core CPU under XLA (docs/performance.md), so 2 epochs of MNIST took about 20
        # minutes; without XLA, `auto`'s choice on a CPU now, about 180 images/s (11 minutes).
        default_epochs=2,
    )
)
