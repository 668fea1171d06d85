"""The reparameterization trick as a layer."""

import keras
from keras import ops

from kgen.random import resolve_seed


@keras.saving.register_keras_serializable(package="kgen")
class Sampling(keras.layers.Layer):
    """Draws z = mean + exp(log_variance / 2) * eps with eps ~ N(0, I).

    Writing the draw this way keeps z differentiable in (mean, log_variance), which is what
    lets a VAE train its encoder by backpropagation through a random sample.

    Args:
        seed: int or None, seed of the layer's own `SeedGenerator`.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, mean, log_variance, seed=None):
        """`seed` overrides the layer's generator (an int, or a `kgen.random.TensorSeed`)."""
        eps = keras.random.normal(
            ops.shape(mean), dtype=mean.dtype, seed=resolve_seed(seed, self.seed_generator)
        )
        return mean + ops.exp(0.5 * log_variance) * eps

    def compute_output_shape(self, mean_shape, log_variance_shape=None):
        return mean_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config
