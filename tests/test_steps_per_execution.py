"""--steps-per-execution N: Keras runs N train steps per call of the train function and
calls the batch callbacks once per call. Nothing a run computes or records may change:
weights (EMA included), the global step, step scalars, checkpoints; a bad N is refused in
one line, and auto always finds one that works."""

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import SMALL_SETTINGS
from helpers import assert_clean_error
from helpers import invoke_in

from kgen.errors import ConfigError
from kgen.models import get_family
from kgen.training import TrainConfig
from kgen.training import strategy as strategies
from kgen.training.build import check_steps_per_execution
from kgen.training.build import resolve_steps_per_execution
from kgen.training.driver import fit

STEPS = 8  # 256 examples in batches of 32: one epoch


class _ExecutionCounter(keras.callbacks.Callback):
    """Counts the calls of the train function (Keras's batch callbacks, one per execution)."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1


def _fit(tmp_path, family, steps_per_execution, data_dir, **overrides):
    """(FitResult, calls of the train function) of one epoch of `family`'s small model."""
    settings = dict(
        dataset="mnist",
        data_dir=str(data_dir),
        limit=256,
        batch_size=32,
        epochs=1,
        seed=3,
        eval_split="none",
        checkpoint_every=4,
        log_every=4,
        steps_per_execution=steps_per_execution,
        logdir=str(tmp_path / f"{family}-{steps_per_execution}"),
    )
    settings.update(overrides)
    counter = _ExecutionCounter()
    config = get_family(family).config_class(**SMALL_SETTINGS[family])
    result = fit(
        family, config, TrainConfig(**settings), verbose=0, extra_callbacks=lambda _: [counter]
    )
    return result, counter.calls


def _step_scalars(run_dir):
    """{tag: {step: value}} of the step scalars (`batch_*`) a run wrote to TensorBoard."""
    scalars = {}
    for path in sorted((run_dir / "train").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("batch_"):
                    scalars.setdefault(value.tag, {})[event.step] = float(
                        tf.make_ndarray(value.tensor)
                    )
    return scalars


def _checkpoint_steps(run_dir):
    return sorted(int(path.stem.split("-")[1]) for path in run_dir.glob("checkpoints/ckpt-*.index"))


# The GAN has two optimizers and the EMA of its generator, updated inside each train step;
# WGAN-GP adds the gradient penalty's random interpolation.
@pytest.mark.parametrize(
    "family",
    ["vae", "gan", pytest.param("wgan-gp", marks=pytest.mark.slow)],  # 35 s on 2 cores
)
def test_four_steps_per_execution_train_the_same_weights_and_logs_as_one(
    family, tmp_path, tfds_data_dir, mnist_small
):
    one, one_calls = _fit(tmp_path, family, 1, tfds_data_dir)
    four, four_calls = _fit(tmp_path, family, 4, tfds_data_dir)
    assert (one_calls, four_calls) == (STEPS, STEPS // 4)
    assert one.final_step == four.final_step == STEPS
    # Without loss scaling no step is skipped, so the step counted by the callbacks is the
    # optimizer's (the callback counts it itself: see CheckpointCallback).
    assert four.final_step == int(four.model.optimizer.iterations.numpy())
    for a, b in zip(one.model.weights, four.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    one_scalars = _step_scalars(Path(one.run_dir))
    assert one_scalars and all(set(steps) == {4, 8} for steps in one_scalars.values())
    assert _step_scalars(Path(four.run_dir)) == one_scalars  # the epoch's running means
    assert _checkpoint_steps(Path(one.run_dir)) == _checkpoint_steps(Path(four.run_dir)) == [4, 8]


def test_auto_lowers_the_device_target_to_a_divisor_and_records_it(
    tmp_path, tfds_data_dir, mnist_small, monkeypatch
):
    # As if this CPU were a device whose target is 32: 8 steps per epoch and --log-every 4
    # leave 4.
    monkeypatch.setitem(strategies.DEFAULT_STEPS_PER_EXECUTION, "CPU", 32)
    result, calls = _fit(tmp_path, "vae", "auto", tfds_data_dir, checkpoint_every=0)
    assert result.model.steps_per_execution == 4 and calls == STEPS // 4
    record = json.loads((Path(result.run_dir) / "run.json").read_text())
    assert record["train_config"]["steps_per_execution"] == 4  # and so in the hparams


def _config(**overrides):
    settings = dict(batch_size=32, checkpoint_every=0, log_every=0)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.mark.parametrize(
    "target, examples, overrides, resume_step, expected",
    [
        (32, 32 * 64, {}, 0, 32),  # 64 steps per epoch, nothing else to divide
        (32, 32 * 100, dict(checkpoint_every=500, log_every=50), 0, 25),  # gcd 50
        (32, 32 * 469, dict(checkpoint_every=500, log_every=50), 0, 1),  # 469 = 7 * 67
        (32, 32 * 64, dict(log_every=48), 0, 16),  # gcd 16
        (32, 32 * 64, {}, 64 + 12, 4),  # resumed 12 steps into its second epoch
        (8, 32 * 64, {}, 0, 8),  # never above the target
        (1, 32 * 64, {}, 0, 1),
    ],
)
def test_auto_is_the_largest_divisor_not_above_the_target(
    monkeypatch, target, examples, overrides, resume_step, expected
):
    monkeypatch.setitem(strategies.DEFAULT_STEPS_PER_EXECUTION, "CPU", target)
    config = _config(**overrides)
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    steps = resolve_steps_per_execution(config, examples, one_device, resume_step)
    assert steps == expected
    resolved = dataclasses.replace(config, steps_per_execution=steps)
    check_steps_per_execution(resolved, examples, resume_step)  # auto never fails the check


def test_auto_follows_the_table_of_device_types():
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    target = strategies.DEFAULT_STEPS_PER_EXECUTION["CPU"]
    assert strategies.default_steps_per_execution(one_device) == target
    assert set(strategies.DEFAULT_STEPS_PER_EXECUTION) >= {"CPU", "GPU"}


@pytest.mark.parametrize(
    "overrides, resume_step, message",
    [
        (
            dict(log_every=50),
            0,
            "--steps-per-execution 4 does not divide --log-every 50: pass a divisor of 50, "
            "or --log-every a multiple of 4.",
        ),
        (
            dict(checkpoint_every=10),
            0,
            "--steps-per-execution 4 does not divide --checkpoint-every 10: pass a divisor of "
            "10, or --checkpoint-every a multiple of 4.",
        ),
        (
            dict(batch_size=64),  # 640 / 64 = 10 steps per epoch
            0,
            "--steps-per-execution 4 does not divide the 10 steps per epoch (640 examples in "
            "batches of 64): pass a divisor of 10, or a --batch-size or --limit giving a "
            "multiple of 4.",
        ),
        (
            {},
            20 + 6,
            "--steps-per-execution 4 does not divide step 6 of the epoch, where this run resumes "
            "from its checkpoint: pass a divisor of 6, or start a new run with --fresh.",
        ),
    ],
)
def test_a_steps_per_execution_that_misses_a_boundary_is_refused_in_one_line(
    overrides, resume_step, message
):
    config = _config(steps_per_execution=4, **overrides)
    with pytest.raises(ConfigError) as caught:
        check_steps_per_execution(config, 640, resume_step)  # 20 steps per epoch of 32
    assert str(caught.value) == message
    check_steps_per_execution(_config(steps_per_execution=2, **overrides), 640, resume_step)
    for fits_anything in ("auto", 1):
        check_steps_per_execution(
            _config(steps_per_execution=fits_anything, **overrides), 640, resume_step
        )


def test_kgen_fit_refuses_a_bad_steps_per_execution_before_making_a_run(
    tmp_path, tfds_data_dir, mnist_small
):
    result = invoke_in(
        tmp_path,
        "fit",
        "vae",
        "--limit",
        128,
        "--batch-size",
        32,
        "--data-dir",
        tfds_data_dir,
        "--steps-per-execution",
        4,
    )
    assert_clean_error(result, "--steps-per-execution 4 does not divide --log-every 50")
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    result = invoke_in(tmp_path, "fit", "vae", "--steps-per-execution", "fast")
    assert_clean_error(result, "'fast' is neither auto nor a whole number in the range x>=1.")
