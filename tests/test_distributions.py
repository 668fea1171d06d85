"""Closed forms against Monte Carlo and direct computation."""

import math

import numpy as np
import pytest
from keras import ops

from kgen.distributions import BernoulliLikelihood
from kgen.distributions import DiscretizedLogisticLikelihood
from kgen.distributions import gaussian_kl_to_standard_normal
from kgen.distributions import gaussian_log_prob
from kgen.distributions import get_likelihood

# Backend-agnostic: also run under JAX by tests/test_backends.py.
pytestmark = pytest.mark.backends


def test_kl_closed_form_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(3, 4)).astype("float32")
    log_variance = rng.normal(scale=0.5, size=(3, 4)).astype("float32")
    closed = ops.convert_to_numpy(gaussian_kl_to_standard_normal(mean, log_variance))
    # KL = E_q[log q(z) - log p(z)], estimated from 200k samples of q.
    z = mean + np.exp(0.5 * log_variance) * rng.normal(size=(200_000, 3, 4)).astype("float32")
    log_q = ops.convert_to_numpy(gaussian_log_prob(z, mean, log_variance))
    log_p = ops.convert_to_numpy(gaussian_log_prob(z, np.zeros_like(z), np.zeros_like(z)))
    monte_carlo = (log_q - log_p).mean(axis=0)
    np.testing.assert_allclose(closed, monte_carlo, rtol=0.02, atol=0.02)


def test_kl_is_zero_for_the_prior_itself():
    zeros = np.zeros((2, 5), "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(gaussian_kl_to_standard_normal(zeros, zeros)), 0.0
    )


def test_gaussian_log_prob_matches_scalar_formula():
    x, mean, log_variance = 0.3, -0.2, math.log(2.0)
    expected = -0.5 * (math.log(2 * math.pi) + log_variance + (x - mean) ** 2 / 2.0)
    got = gaussian_log_prob(
        np.array([[x]], "float32"),
        np.array([[mean]], "float32"),
        np.array([[log_variance]], "float32"),
    )
    np.testing.assert_allclose(ops.convert_to_numpy(got), [expected], rtol=1e-6)


def test_bernoulli_log_prob_matches_direct_formula():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 3, 3, 1)).astype("float32")
    targets = (rng.random((2, 3, 3, 1)) < 0.5).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    expected = np.sum(targets * np.log(p) + (1 - targets) * np.log(1 - p), axis=(1, 2, 3))
    got = ops.convert_to_numpy(BernoulliLikelihood().log_prob(targets, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bernoulli_binarization_keeps_binary_images_and_samples_grey():
    import keras

    likelihood = BernoulliLikelihood()
    generator = keras.random.SeedGenerator(0)
    binary = (np.random.default_rng(0).random((4, 8, 8, 1)) < 0.5).astype("float32")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(likelihood.targets(binary, generator)), binary
    )
    grey = np.full((200, 8, 8, 1), 0.3, "float32")
    draws = ops.convert_to_numpy(likelihood.targets(grey, generator))
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert abs(draws.mean() - 0.3) < 0.01


@pytest.mark.parametrize("log_scale", [-3.0, -1.0, 0.5])
def test_discretized_logistic_is_a_distribution_over_256_levels(log_scale):
    likelihood = DiscretizedLogisticLikelihood()
    levels = np.arange(256, dtype="float32") / 255.0
    targets = ops.convert_to_numpy(likelihood.targets(levels.reshape(256, 1, 1, 1)))
    params = np.concatenate(
        [np.full((256, 1, 1, 1), 0.1, "float32"), np.full((256, 1, 1, 1), log_scale, "float32")], -1
    )
    log_probs = ops.convert_to_numpy(likelihood.log_prob(targets, params))
    assert abs(np.exp(log_probs).sum() - 1.0) < 1e-3


def test_discretized_logistic_edge_bins_take_the_tails():
    likelihood = DiscretizedLogisticLikelihood()
    # Mean far below the range: almost all mass in the 0 bin.
    params = np.array([[[[-5.0, -2.0]]]], "float32")
    zero = likelihood.targets(np.zeros((1, 1, 1, 1), "float32"))
    assert float(ops.convert_to_numpy(likelihood.log_prob(zero, params))[0]) > -1e-3


def test_get_likelihood_rejects_unknown_names():
    with pytest.raises(ValueError, match="gaussian"):
        get_likelihood("gaussian")
