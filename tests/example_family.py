"""A fifth family, the worked example of docs/architecture.md ("Adding a family"):
independent Bernoulli pixels, p(x) = prod_i Bernoulli(x_i; sigmoid(theta_i)), one learned
logit theta_i per pixel. Importing this module registers it."""

import dataclasses

import keras
from keras import ops

from kgen.distributions import bits_per_dim
from kgen.distributions import get_likelihood
from kgen.errors import ConfigError
from kgen.models import GenerativeModel
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import positive
from kgen.models.config_fields import setting
from kgen.models.registry import ModelFamily
from kgen.models.registry import register_family
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.training_steps import objective_test_step
from kgen.models.training_steps import objective_train_step
from kgen.random import resolve_seed
from kgen.random import sub_seed


@keras.saving.register_keras_serializable(package="kgen_example")
class IndependentPixels(GenerativeModel):
    """Every pixel an independent Bernoulli variable with a learned logit; grey images are
    binarized by sampling, as the other families' Bernoulli likelihoods do.

    Args:
        image_shape: (height, width, 1).
        seed: int or None, seeds the binarization and the sampler.
    """

    def __init__(self, image_shape, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.num_classes = None
        self.seed = seed
        self.likelihood = get_likelihood("bernoulli")
        self.logits = self.add_weight(shape=self.image_shape, initializer="zeros", name="logits")
        self.binarize_seed_generator = keras.random.SeedGenerator(
            sub_seed(seed, 0), name="binarize"
        )
        self.prior_seed_generator = keras.random.SeedGenerator(sub_seed(seed, 1), name="prior")
        self.trackers = [keras.metrics.Mean(name=name) for name in ("loss", "bits_per_dim")]
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    def per_example_terms(self, data, training=False):
        """-log p(x) in nats per image (the objective), and in bits per dimension."""
        images, _ = self.unpack(data)
        nll = -self.log_likelihood(images)
        return {"loss": nll, "bits_per_dim": bits_per_dim(nll, self.image_shape)}

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        return backend_train_step(self, objective_train_step, *args)

    def test_step(self, *args):
        return backend_test_step(self, objective_test_step, *args)

    def log_likelihood(self, images, labels=None):
        targets = self.likelihood.targets(images, self.binarize_seed_generator)
        return self.likelihood.log_prob(targets, ops.broadcast_to(self.logits, ops.shape(targets)))

    def sample(self, num, seed=None, labels=None):
        shape = (num, *self.image_shape)
        uniform = keras.random.uniform(shape, seed=resolve_seed(seed, self.prior_seed_generator))
        return self.likelihood.draw(self.logits, uniform)

    def get_config(self):
        return self.config_with(image_shape=self.image_shape, seed=self.seed)


@dataclasses.dataclass
class IndependentPixelsConfig(CheckedSettings):
    """Settings of the independent-pixels family."""

    learning_rate: float = setting(0.05, "Adam learning rate of the pixel logits.", positive())


def build_independent_pixels(config, dataset_info, seed=None, jit_compile=False):
    """The model for grey images shaped like `dataset_info`, compiled."""
    if dataset_info.image_shape[-1] != 1:
        raise ConfigError(
            f"independent-pixels models grey images; {dataset_info.name} has "
            f"{dataset_info.image_shape[-1]} channels."
        )
    model = IndependentPixels(dataset_info.image_shape, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile)
    return model


register_family(
    ModelFamily(
        name="independent-pixels",
        config_class=IndependentPixelsConfig,
        build=build_independent_pixels,
        default_dataset="binarized_mnist",
        summary="Independent Bernoulli pixels: one learned logit per pixel.",
    )
)
