"""Keras's DataParallel under JAX (`kgen.training.jax_distribution`): one training step on
two devices gives what it gives on one, for every family's step. Marked `jax_only`:
tests/test_backends.py runs it under JAX with the CPU split into two host devices
(XLA_FLAGS=--xla_force_host_platform_device_count=2); under TensorFlow the same is
tests/test_replicas.py and the replica tests of tests/test_gan.py."""

import keras
import numpy as np
import pytest
from helpers import MNIST_INFO
from helpers import build_small_adversarial
from keras import ops

from kgen.errors import ConfigError
from kgen.models import get_family
from kgen.training.strategy import fit_scope
from kgen.training.strategy import make_strategy

pytestmark = pytest.mark.jax_only


def _data():
    rng = np.random.default_rng(0)
    return {
        "image": rng.uniform(size=(16, 28, 28, 1)).astype("float32"),
        "label": rng.integers(0, 10, size=16).astype("int32"),
    }


def _build(name):
    if name == "vae":
        keras.utils.set_random_seed(0)
        family = get_family("vae")
        config = family.config_class(latent_dim=8, base_filters=8, hidden_units=32)
        return family.build(config, MNIST_INFO, seed=1, jit_compile=True)
    model = build_small_adversarial(name, d_steps=2)
    # Plain SGD: Adam's first step g / (|g| + eps) turns float noise in near-zero gradients
    # into full-size steps, which would hide what is compared here.
    model.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05))
    return model


def _one_step(name, strategy):
    with strategy.scope():
        model = _build(name)
    with fit_scope(strategy):
        history = model.fit(_data(), batch_size=16, epochs=1, shuffle=False, verbose=0)
    return model, history.history


# WGAN-GP: both optimizers, the penalty's input gradient, the EMA; the objective families'
# step goes through the same `minimize`.
@pytest.mark.parametrize("name", ["wgan-gp"])
def test_one_step_same_on_one_and_two_devices(name):
    mirrored = make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2, "run with two host devices (see the docstring)"
    assert make_strategy("auto").num_replicas_in_sync == 1  # CPUs are not accelerators
    one, one_logs = _one_step(name, make_strategy("one-device"))
    two, two_logs = _one_step(name, mirrored)
    assert len(two.weights[0].value.sharding.device_set) == 2  # replicated on both
    initial = [ops.convert_to_numpy(w) for w in _build(name).weights]
    after_one = [ops.convert_to_numpy(w) for w in one.weights]
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(after_one, initial)), "no change"
    for a, b in zip(after_one, two.weights):
        # As tests/test_gan.py allows TensorFlow's replicas: sums taken in another order.
        np.testing.assert_allclose(a, ops.convert_to_numpy(b), rtol=2e-4, atol=2e-6)
    for name_, values in one_logs.items():
        np.testing.assert_allclose(two_logs[name_], values, rtol=1e-4, err_msg=name_)


# DataParallel gives each device an equal part of every batch: a batch size that does not
# split is refused before a run folder exists, and validation keeps whole batches only (the
# last partial one need not split), as the plan says; a validation set without one whole
# batch is refused too.
def test_mirrored_runs_need_batches_that_split_and_validate_on_whole_batches(tmp_path):
    import tensorflow as tf

    from kgen.data import DatasetInfo
    from kgen.models import VAEConfig
    from kgen.training import TrainConfig
    from kgen.training.driver import fit

    rng = np.random.default_rng(0)
    images = rng.uniform(size=(29, 28, 28, 1)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices({"image": images[:16]})
    validation = tf.data.Dataset.from_tensor_slices({"image": images[16:]})
    data = (train, validation, DatasetInfo("synthetic", (28, 28, 1), 10, 16, "train"))
    model_config = VAEConfig(latent_dim=4, base_filters=8, hidden_units=16)

    def run(batch_size, said):
        config = TrainConfig(
            batch_size=batch_size, epochs=1, seed=1, strategy="mirrored",
            logdir=str(tmp_path / f"run{batch_size}"), log_every=0, checkpoint_every=0,
        )  # fmt: skip
        return fit("vae", model_config, config, verbose=0, announce=said.append, data=data)

    with pytest.raises(
        ConfigError, match=r"--batch-size 3 .* 2 devices .* multiple of 2, such as 2"
    ):
        run(3, [])
    assert not (tmp_path / "run3").exists()
    with pytest.raises(ConfigError, match=r"The 13 validation images make no whole batch of 16"):
        run(16, [])
    assert not (tmp_path / "run16").exists()
    said = []
    result = run(4, said)
    assert "validating after each on 12 of the 13 validation images (whole batches" in said[2]
    assert np.isfinite(result.metrics["val_loss"]) and result.final_step == 4
