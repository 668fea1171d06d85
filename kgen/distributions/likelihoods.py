"""Observation models p(x | params) for images: Bernoulli, discretized logistic,
256-way categorical.

Each likelihood maps external images (float32 in [0, 1]) to the targets it scores, says how
many output channels a decoder needs per image channel, gives log p(x | params) per example
(summed over pixels, in nats) and turns parameters back into external images.
"""

import math

from keras import ops
from keras import random

from kgen.random import resolve_seed


def bits_per_dim(nats, image_shape):
    """Nats per image as bits per dimension (per pixel and channel of `image_shape`)."""
    return nats / (math.prod(image_shape) * math.log(2.0))


def _sum_per_example(per_pixel):
    """Sum over every axis but the batch: per-pixel log-probabilities -> per-image, [N]."""
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


class _EightBitLevels:
    """Targets for 8-bit likelihoods: the 256 levels the data came from, scaled to [-1, 1]."""

    def targets(self, images, seed_generator=None):
        levels = ops.round(ops.clip(images, 0.0, 1.0) * 255.0)
        return levels / 127.5 - 1.0

    def encoder_input(self, images):
        """What the encoder sees, in training and in use alike: the quantized levels in
        [-1, 1], the targets themselves (they are deterministic)."""
        return self.targets(images)

    def to_images(self, targets):
        """External images in [0, 1] from targets."""
        return (targets + 1.0) / 2.0


class BernoulliLikelihood:
    """Independent Bernoulli pixels with logits; images are binarized by sampling.

    Sampling x_b ~ Bernoulli(x) at every use is dynamic binarization (the usual protocol for
    MNIST-like data); images that are already 0/1 pass through unchanged.
    """

    name = "bernoulli"
    params_per_channel = 1

    def targets(self, images, seed_generator):
        noise = random.uniform(ops.shape(images), seed=resolve_seed(None, seed_generator))
        return ops.cast(noise < images, images.dtype)

    def encoder_input(self, images):
        """What the encoder sees, in training and in use alike: the grey levels themselves
        (deterministic), while `log_prob` scores a binarization of them."""
        return images

    def log_prob(self, targets, logits):
        # log sigmoid(l) for x=1 and log sigmoid(-l) for x=0, written stably.
        per_pixel = targets * logits - ops.softplus(logits)
        return _sum_per_example(per_pixel)

    def mean(self, logits):
        return ops.sigmoid(logits)

    def draw(self, logits, uniform):
        """Targets (0 or 1) drawn from `logits` by comparing `uniform` in [0, 1) with p(1)."""
        return ops.cast(uniform < ops.sigmoid(logits), "float32")

    def to_images(self, targets):
        """External images in [0, 1] from targets."""
        return targets


class DiscretizedLogisticLikelihood(_EightBitLevels):
    """8-bit pixels under a logistic whose mass is integrated over each of the 256 bins.

    As in PixelCNN++ (Salimans et al. 2017): pixel values are scaled to [-1, 1], the bin of
    value v covers v +- 1/255, and the two edge bins take the whole tail. The decoder gives a
    mean and a log-scale per pixel and channel (the scale is learned, per pixel).
    """

    name = "logistic"
    params_per_channel = 2
    _MIN_LOG_SCALE = -7.0

    def log_prob(self, targets, params):
        mean, log_scale = ops.split(params, 2, axis=-1)
        log_scale = ops.maximum(log_scale, self._MIN_LOG_SCALE)
        inv_scale = ops.exp(-log_scale)
        centred = targets - mean
        upper = inv_scale * (centred + 1.0 / 255.0)
        lower = inv_scale * (centred - 1.0 / 255.0)
        cdf_upper = ops.sigmoid(upper)
        cdf_lower = ops.sigmoid(lower)
        log_cdf_upper = upper - ops.softplus(upper)  # log sigmoid(upper), for the 0 bin
        log_one_minus_cdf_lower = -ops.softplus(lower)  # log(1 - sigmoid(lower)), 255 bin
        mass = ops.maximum(cdf_upper - cdf_lower, 1e-12)
        # Where the bin mass underflows, use the density at the bin centre times its width.
        mid = inv_scale * centred
        log_density_mid = mid - log_scale - 2.0 * ops.softplus(mid)
        log_mass_interior = ops.where(mass > 1e-5, ops.log(mass), log_density_mid - math.log(127.5))
        per_pixel = ops.where(
            targets < -0.999,
            log_cdf_upper,
            ops.where(targets > 0.999, log_one_minus_cdf_lower, log_mass_interior),
        )
        return _sum_per_example(per_pixel)

    def mean(self, params):
        mean, _ = ops.split(params, 2, axis=-1)
        return ops.clip((mean + 1.0) / 2.0, 0.0, 1.0)


class CategoricalLikelihood(_EightBitLevels):
    """A 256-way softmax per pixel and colour, as in PixelRNN/PixelCNN for 8-bit images.

    Parameters are parameter-major: logit k of colour c is feature k * channels + c. Targets
    are the 256 levels scaled to [-1, 1], which is also what an autoregressive network reads.
    """

    name = "categorical"
    params_per_channel = 256

    def log_prob(self, targets, logits):
        log_probs = ops.log_softmax(self._per_level(logits), axis=-2)  # [..., 256, C]
        levels = ops.cast(ops.round((targets + 1.0) * 127.5), "int32")
        per_pixel = ops.take_along_axis(log_probs, ops.expand_dims(levels, -2), axis=-2)
        return _sum_per_example(per_pixel)

    def draw(self, logits, uniform):
        """Targets drawn by inverse CDF: the first level whose cumulative probability
        exceeds `uniform` (shape [..., C])."""
        cdf = ops.cumsum(ops.softmax(self._per_level(logits), axis=-2), axis=-2)
        levels = ops.sum(ops.cast(cdf < ops.expand_dims(uniform, -2), "float32"), axis=-2)
        return ops.minimum(levels, 255.0) / 127.5 - 1.0

    def _per_level(self, logits):
        """[..., 256 * C] -> [..., 256, C]."""
        shape = ops.shape(logits)
        channels = logits.shape[-1] // self.params_per_channel
        return ops.reshape(logits, tuple(shape[:-1]) + (self.params_per_channel, channels))


LIKELIHOODS = {
    BernoulliLikelihood.name: BernoulliLikelihood,
    DiscretizedLogisticLikelihood.name: DiscretizedLogisticLikelihood,
    CategoricalLikelihood.name: CategoricalLikelihood,
}


def get_likelihood(name):
    """The likelihood registered under `name` ("bernoulli", "logistic" or "categorical")."""
    if name not in LIKELIHOODS:
        raise ValueError(f"Unknown likelihood {name!r}; expected one of {sorted(LIKELIHOODS)}.")
    return LIKELIHOODS[name]()
