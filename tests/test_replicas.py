"""Distribution: one update gives the same weights on 1 and on 2 replicas, and replicas draw
independent noise. conftest.py splits the CPU into two logical devices for this."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import binary_batch
from helpers import small_vae_config

from kgen.models import get_family


def _one_step_weights(strategy, images, labels, monkeypatch, conditional):
    keras.utils.set_random_seed(0)  # same initial weights in every build
    with strategy.scope():
        model = get_family("vae").build(
            small_vae_config(conditional=conditional), MNIST_INFO, seed=1
        )
    # The replicas draw different noise than one device does for the same examples (as
    # they should; see test_replicas_draw_independent_noise), so pin z to the posterior
    # mean: what is compared is how losses and gradients are scaled and summed.
    monkeypatch.setattr(model.sampling, "call", lambda mean, log_variance, seed=None: mean)
    dataset = tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(
        len(images)
    )
    model.fit(dataset, epochs=1, verbose=0)
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("conditional", [False, True])
def test_one_step_same_weights_on_one_and_two_replicas(
    monkeypatch, conditional, two_replica_strategy
):
    images, labels = binary_batch(num=16)  # 0/1 pixels: binarization is deterministic
    one = _one_step_weights(
        tf.distribute.OneDeviceStrategy("/cpu:0"), images, labels, monkeypatch, conditional
    )
    two = _one_step_weights(two_replica_strategy, images, labels, monkeypatch, conditional)
    initial = _initial_weights(conditional)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(one, initial)), "the step changed nothing"
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _initial_weights(conditional):
    keras.utils.set_random_seed(0)
    model = get_family("vae").build(small_vae_config(conditional=conditional), MNIST_INFO, seed=1)
    return [w.numpy() for w in model.weights]


def test_replicas_draw_independent_noise(two_replica_strategy):
    strategy = two_replica_strategy
    with strategy.scope():
        model = get_family("vae").build(small_vae_config(), MNIST_INFO, seed=1)
    mean = tf.zeros((4, 8))

    @tf.function
    def draw():
        return strategy.run(lambda: model.sampling(mean, mean))

    first, second = [v.numpy() for v in draw().values]
    assert not np.allclose(first, second)
