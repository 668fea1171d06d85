"""The tests marked `backends` (kgen's math in keras.ops: distributions, layers, networks,
metrics, the objective families' steps) run under TensorFlow in this suite and under JAX
here, in a process of their own: Keras fixes its backend when it is first imported. And one
training step from the same weights gives the same loss and weights on both backends."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.backends
def test_keras_runs_the_backend_asked_for():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_the_backend_tests_pass_under_jax():
    import jax  # noqa: F401  (in the test extra: a missing install fails here, not skips)

    env = dict(os.environ, KERAS_BACKEND="jax")
    command = [sys.executable, "-m", "pytest", "-m", "backends", "-n", "0", "-q"]
    command += ["-p", "no:cacheprovider", "--durations=0", str(TESTS)]
    result = subprocess.run(
        command, cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=600
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary


# One PixelCNN step from the same weights on the same binary batch (binary images make the
# Bernoulli targets exact, so no random draw enters): run under a given backend; the first
# run writes the weights, the second loads them.
ONE_STEP = """
import sys
import keras
import numpy as np
from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig, get_family

folder = sys.argv[1]
info = DatasetInfo(name="synthetic", image_shape=(6, 6, 1), num_classes=10, num_examples=16,
                   split="train")
family = get_family("pixelcnn")
model = family.build(PixelCNNConfig(variant="gated", filters=12, num_blocks=2), info, seed=1)
weights = folder + "/start.weights.h5"
if keras.backend.backend() == "tensorflow":
    model.save_weights(weights)
else:
    model.load_weights(weights)
images = (np.random.default_rng(0).uniform(size=(16, 6, 6, 1)) > 0.5).astype("float32")
before = model.evaluate({"image": images}, batch_size=16, verbose=0, return_dict=True)
history = model.fit({"image": images}, batch_size=16, epochs=1, shuffle=False, verbose=0)
np.savez(
    folder + "/" + keras.backend.backend() + ".npz",
    loss_before=before["loss"],
    step_loss=history.history["loss"][0],
    *[keras.ops.convert_to_numpy(v) for v in model.trainable_variables],
)
"""


def test_one_training_step_is_the_same_on_both_backends(tmp_path):
    import numpy as np

    for backend in ("tensorflow", "jax"):
        env = dict(os.environ, KERAS_BACKEND=backend)
        result = subprocess.run(
            [sys.executable, "-c", ONE_STEP, str(tmp_path)],
            cwd=TESTS.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    tf_run, jax_run = (np.load(tmp_path / f"{name}.npz") for name in ("tensorflow", "jax"))
    for name in ("loss_before", "step_loss"):
        np.testing.assert_allclose(jax_run[name], tf_run[name], rtol=1e-5)
    arrays = [name for name in tf_run.files if name.startswith("arr_")]
    assert arrays and set(arrays) == {n for n in jax_run.files if n.startswith("arr_")}
    for name in arrays:  # the weights after one Adam step
        np.testing.assert_allclose(jax_run[name], tf_run[name], rtol=1e-4, atol=1e-6)
