"""Checkpoints: a killed run resumes where it stopped and ends as if never interrupted; a NaN
loss or gradient stops training and keeps the last good checkpoint."""

import os
import re
import signal
import subprocess
import sys
import time
import types

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import jax_environment
from helpers import small_vae_config

from kgen.errors import TrainingDiverged
from kgen.models import VAE
from kgen.training import TrainConfig
from kgen.training.build import model_from_run
from kgen.training.checkpoint_formats import NpzCheckpoints
from kgen.training.checkpoints import CheckpointCallback
from kgen.workflows import train

FIT = [
    "-m",
    "cli.main",
    "fit",
    "vae",
    "--limit",
    "512",
    "--batch-size",
    "16",
    "--epochs",
    "2",
    "--seed",
    "5",
    "--checkpoint-every",
    "4",
    "--latent-dim",
    "8",
    "--base-filters",
    "8",
    "--hidden-units",
    "64",
    "--eval-split",
    "none",
]


def _run_fit(cwd, data_dir, extra=()):
    return subprocess.run(
        [sys.executable, *FIT, "--data-dir", str(data_dir), *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _latest_step(checkpoints):
    """The newest checkpoint's step, in either backend's format (0 when there is none)."""
    state = checkpoints / "checkpoint"  # TensorFlow's
    if state.is_file():
        first = state.read_text().splitlines()[0]  # model_checkpoint_path: "ckpt-N"
        return int(first.rsplit("-", 1)[1].rstrip('"'))
    store = NpzCheckpoints(str(checkpoints), max_to_keep=3)  # JAX's: ckpt-N.npz
    latest = store.latest(str(checkpoints))
    return store.read_step(latest) if latest else 0


# With four steps per execution, Keras calls the callbacks every 4th step: the checkpoints
# (every 4 steps) still fall on execution ends, and the resumed epoch's rest is a multiple of 4.
# That case runs the one-step path's kill and resume too, so the one-step case (74 s) is slow;
# so is the same on JAX (its .npz checkpoints; the process killed whenever a checkpoint of
# step 8 or later has appeared).
@pytest.mark.parametrize(
    "extra, backend",
    [
        pytest.param((), "tensorflow", marks=pytest.mark.slow, id="one"),
        pytest.param(("--steps-per-execution", "4", "--log-every", "8"), "tensorflow", id="four"),
        pytest.param((), "jax", marks=pytest.mark.slow, id="jax"),
    ],
)
def test_killed_run_resumes_and_matches_an_uninterrupted_run(
    tmp_path, tfds_data_dir, mnist_small, extra, backend
):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo)
    if backend == "jax":
        env = jax_environment(PYTHONPATH=repo)
    interrupted, straight = tmp_path / "interrupted", tmp_path / "straight"
    interrupted.mkdir()
    straight.mkdir()
    command = [sys.executable, *FIT, "--data-dir", str(tfds_data_dir), *extra]

    process = subprocess.Popen(
        command,
        cwd=interrupted,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    checkpoints = None
    while time.time() < deadline:
        found = (
            list((interrupted / "runs").glob("*/checkpoints"))
            if (interrupted / "runs").exists()
            else []
        )
        if found and _latest_step(found[0]) >= 8:
            checkpoints = found[0]
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoints is not None, "no checkpoint appeared"
    killed_at = _latest_step(checkpoints)
    assert 8 <= killed_at < 64, f"the run was not killed mid-way (step {killed_at} of 64)"

    resumed = subprocess.run(
        command,
        cwd=interrupted,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    device, resuming, plan = resumed.stdout.splitlines()[:3]  # all said before training
    assert device.startswith("Device: ") and f"from step {killed_at}." in resuming
    assert plan.startswith("Plan: ") and f"; {64 - killed_at} steps to go." in plan
    assert len(list((interrupted / "runs").iterdir())) == 1  # the same run, not a new one
    assert _latest_step(checkpoints) == 64

    clean = subprocess.run(
        command,
        cwd=straight,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert clean.returncode == 0, clean.stderr[-3000:]
    (run_a,), (run_b,) = (interrupted / "runs").iterdir(), (straight / "runs").iterdir()
    if backend == "jax":  # every variable of the last checkpoints, optimizer and seeds too
        last_a, last_b = (np.load(run / "checkpoints" / "ckpt-64.npz") for run in (run_a, run_b))
        assert set(last_a.files) == set(last_b.files)
        for name in last_a.files:
            np.testing.assert_allclose(
                last_a[name], last_b[name], rtol=1e-5, atol=1e-6, err_msg=name
            )
        return
    model_a, _ = model_from_run(str(run_a))
    model_b, _ = model_from_run(str(run_b))
    for a, b in zip(model_a.weights, model_b.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


def _nan_loss(model, kernel):
    return float("nan")


def _nan_gradient(model, kernel):
    # sqrt(0 * w) is 0, a finite loss, but its gradient is 0 * inf = NaN.
    return tf.sqrt(0.0 * tf.reduce_sum(kernel))


@pytest.mark.parametrize(
    "poison, from_update, steps_per_execution, where, last_good",
    [
        (_nan_loss, 6, 1, "at step 7", 6),
        # Step 6 is a checkpoint step: its update must be refused before anything saves it.
        (_nan_gradient, 5, 1, "at step 6", 4),
        # Step 6 is in the middle of the execution of steps 5 to 8: the running means stay
        # NaN to its end, where the callbacks see it, and step 8 (a checkpoint step and the
        # epoch's end) is not saved.
        (_nan_gradient, 5, 4, "in steps 5 to 8 (one execution of --steps-per-execution 4)", 4),
    ],
)
def test_a_nan_loss_or_gradient_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(
    tmp_path,
    tfds_data_dir,
    mnist_small,
    monkeypatch,
    poison,
    from_update,
    steps_per_execution,
    where,
    last_good,
):
    original = VAE.per_example_terms

    def poisoned(self, data, training=False):
        terms = original(self, data, training)
        if not training:
            return terms
        kernel = self.decoder.trainable_variables[0]
        extra = tf.cond(
            self.optimizer.iterations >= from_update,
            lambda: poison(self, kernel) + 0.0 * kernel[0, 0],
            lambda: 0.0 * kernel[0, 0],
        )
        return {**terms, "loss": terms["loss"] + extra}

    monkeypatch.setattr(VAE, "per_example_terms", poisoned)
    config = _diverging_config(tmp_path, tfds_data_dir, steps_per_execution)
    with pytest.raises(TrainingDiverged, match=re.escape(f"NaN or infinite {where};")):
        train("vae", small_vae_config(), config, verbose=0)
    _assert_stopped_at_the_last_good_checkpoint(tmp_path, last_good)


def _diverging_config(tmp_path, tfds_data_dir, steps_per_execution):
    """Two epochs of 8 steps, checkpointed every 2 steps (every 4 with 4 per execution)."""
    return TrainConfig(
        dataset="mnist",
        data_dir=str(tfds_data_dir),
        limit=256,
        batch_size=32,
        epochs=2,
        seed=0,
        checkpoint_every=max(2, steps_per_execution),
        log_every=0,
        steps_per_execution=steps_per_execution,
        eval_split="none",
        logdir=str(tmp_path / "run"),
        export=str(tmp_path / "export"),
    )


def _assert_stopped_at_the_last_good_checkpoint(tmp_path, last_good):
    assert _latest_step(tmp_path / "run" / "checkpoints") == last_good
    model, record = model_from_run(str(tmp_path / "run"))
    assert record["status"] == "diverged" and record["step"] == last_good
    assert all(np.all(np.isfinite(w.numpy())) for w in model.weights)
    assert not (tmp_path / "export").exists()


def test_a_nan_logged_in_the_middle_of_an_execution_stops_the_run_at_its_end(
    tmp_path, tfds_data_dir, mnist_small, monkeypatch
):
    # Only step 6 logs a NaN (its reconstruction; the loss and every update stay finite), in
    # the execution of steps 5 to 8. Its logs are step 8's, which are the epoch's running
    # means: NaN since step 6.
    original = VAE.per_example_terms

    def poisoned(self, data, training=False):
        terms = original(self, data, training)
        if not training:
            return terms
        nan_at_step_6 = tf.where(self.optimizer.iterations == 5, float("nan"), 0.0)
        return {**terms, "reconstruction": terms["reconstruction"] + nan_at_step_6}

    monkeypatch.setattr(VAE, "per_example_terms", poisoned)
    config = _diverging_config(tmp_path, tfds_data_dir, steps_per_execution=4)
    with pytest.raises(TrainingDiverged, match=re.escape("NaN or infinite in steps 5 to 8 (")):
        train("vae", small_vae_config(), config, verbose=0)
    _assert_stopped_at_the_last_good_checkpoint(tmp_path, last_good=4)


def test_a_nan_in_any_logged_value_stops_training_not_only_in_loss():
    # Adversarial models log d_loss and g_loss but no "loss".
    state = types.SimpleNamespace(step=tf.Variable(0, dtype=tf.int64))
    guard = CheckpointCallback(state)
    guard.set_model(types.SimpleNamespace(stop_training=False, steps_per_execution=1))
    guard.on_train_batch_begin(0)
    guard.on_train_batch_end(0, {"d_loss": 0.7, "g_loss": 1.2})
    assert guard.diverged_at is None and not guard.model.stop_training
    guard.on_train_batch_begin(1)
    guard.on_train_batch_end(1, {"d_loss": float("nan"), "g_loss": 1.2})
    assert guard.diverged_at == 2 and guard.model.stop_training


@pytest.mark.parametrize("steps_per_execution", [1, 3])
@pytest.mark.parametrize("checkpoint_first", [True, False])
def test_callbacks_read_the_step_just_taken_wherever_the_checkpoint_callback_sits(
    checkpoint_first, steps_per_execution
):
    state = types.SimpleNamespace(step=tf.Variable(10, dtype=tf.int64))  # resumed at step 10
    seen = []

    class StepReader(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(int(state.step.numpy()))

    checkpoints = CheckpointCallback(state)
    callbacks = [checkpoints, StepReader()]
    if not checkpoint_first:
        callbacks.reverse()
    model = types.SimpleNamespace(stop_training=False, steps_per_execution=steps_per_execution)
    for callback in callbacks:
        callback.set_model(model)
    # As Keras calls them: once per execution, with its first and last step of the epoch.
    for begin in range(0, 3 * steps_per_execution, steps_per_execution):
        for callback in callbacks:
            callback.on_train_batch_begin(begin)
        for callback in callbacks:
            callback.on_train_batch_end(begin + steps_per_execution - 1, {"loss": 1.0})
    assert seen == [10 + steps_per_execution * (i + 1) for i in range(3)]


def test_checkpoints_of_the_other_backend_are_refused_by_name(tmp_path):
    from helpers import build_small

    from kgen.errors import CheckpointMismatch
    from kgen.training.checkpoints import TrainingState

    # A run on JAX writes .npz checkpoints; resuming it here, on TensorFlow, would start over.
    np.savez(tmp_path / "ckpt-4.npz", __step__=np.int64(4))
    state = TrainingState(build_small("vae"), str(tmp_path))
    with pytest.raises(CheckpointMismatch, match="written under the jax backend") as error:
        state.restore()
    assert "KERAS_BACKEND=jax" in str(error.value) and "--fresh" in str(error.value)
