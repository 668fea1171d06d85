"""Diagonal Gaussian log-density and its closed-form KL divergence to N(0, I)."""

import math

from keras import ops

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(x, mean, log_variance):
    """log N(x; mean, exp(log_variance)), summed over the last axis."""
    squared = ops.square(x - mean) * ops.exp(-log_variance)
    return -0.5 * ops.sum(_LOG_2PI + log_variance + squared, axis=-1)


def gaussian_kl_to_standard_normal(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)) in nats, summed over the last axis.

    The closed form 0.5 * sum(mu^2 + sigma^2 - log sigma^2 - 1), one value per example.
    """
    return 0.5 * ops.sum(ops.square(mean) + ops.exp(log_variance) - log_variance - 1.0, axis=-1)
