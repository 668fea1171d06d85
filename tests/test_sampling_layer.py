"""The reparameterization layer: statistics, gradients, seeds, serialization."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from kgen.layers import Sampling
from kgen.random import TensorSeed


def test_samples_have_the_requested_mean_and_variance():
    layer = Sampling(seed=0)
    mean = np.tile(np.array([[1.0, -2.0, 0.5]], "float32"), (100_000, 1))
    log_variance = np.tile(np.log(np.array([[0.25, 4.0, 1.0]], "float32")), (100_000, 1))
    z = ops.convert_to_numpy(layer(mean, log_variance))
    np.testing.assert_allclose(z.mean(0), [1.0, -2.0, 0.5], atol=0.02)
    np.testing.assert_allclose(z.var(0), [0.25, 4.0, 1.0], rtol=0.03)


def test_gradient_flows_to_mean_and_log_variance():
    layer = Sampling(seed=0)
    mean = tf.Variable(tf.zeros((4, 2)))
    log_variance = tf.Variable(tf.zeros((4, 2)))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(mean, log_variance))
    grad_mean, grad_log_variance = tape.gradient(total, [mean, log_variance])
    np.testing.assert_allclose(grad_mean.numpy(), 1.0)
    assert np.abs(grad_log_variance.numpy()).sum() > 0


def test_same_seed_same_draws_and_generator_advances():
    mean = np.zeros((2, 3), "float32")
    a, b = Sampling(seed=7), Sampling(seed=7)
    first = ops.convert_to_numpy(a(mean, mean))
    np.testing.assert_array_equal(first, ops.convert_to_numpy(b(mean, mean)))
    assert not np.array_equal(first, ops.convert_to_numpy(a(mean, mean)))


def test_tensor_seed_is_stateless_inside_a_traced_function():
    layer = Sampling(seed=0)
    mean = tf.zeros((2, 3))

    @tf.function
    def draw(seed):
        return layer(mean, mean, seed=TensorSeed(seed))

    one = draw(tf.constant(5, tf.int64)).numpy()
    np.testing.assert_array_equal(one, draw(tf.constant(5, tf.int64)).numpy())
    assert not np.array_equal(one, draw(tf.constant(6, tf.int64)).numpy())


def test_config_round_trip_and_bad_seed():
    layer = Sampling(seed=3, name="s")
    clone = Sampling.from_config(layer.get_config())
    assert clone.seed == 3 and clone.name == "s"
    assert keras.saving.get_registered_object("kgen>Sampling") is Sampling
    with pytest.raises(ValueError, match="seed=1.5"):
        Sampling(seed=1.5)
