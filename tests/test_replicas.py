"""Distribution: one update gives the same weights on 1 and on 2 replicas, and replicas draw
independent noise. conftest.py splits the CPU into two logical devices for this."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import assert_one_step_same_on_two_replicas
from helpers import binary_batch
from helpers import small_vae_config

from kgen.models import get_family


def _build_vae(conditional):
    keras.utils.set_random_seed(0)  # same initial weights in every build
    return get_family("vae").build(small_vae_config(conditional=conditional), MNIST_INFO, seed=1)


@pytest.mark.parametrize("conditional", [False, True])
def test_one_step_same_weights_on_one_and_two_replicas(
    monkeypatch, conditional, two_replica_strategy
):
    def pin(model):
        # The replicas draw different noise than one device does for the same examples (as
        # they should; see test_replicas_draw_independent_noise), so pin z to the posterior
        # mean: what is compared is how losses and gradients are scaled and summed.
        monkeypatch.setattr(model.sampling, "call", lambda mean, log_variance, seed=None: mean)

    images, labels = binary_batch(num=16)  # 0/1 pixels: binarization is deterministic
    build = functools.partial(_build_vae, conditional)
    assert_one_step_same_on_two_replicas(two_replica_strategy, build, images, labels, pin)


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
