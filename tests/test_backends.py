"""The tests marked `backends` (kgen's math in keras.ops: distributions, layers, networks,
metrics, the objective families' steps) run under TensorFlow in this suite and under JAX
here, in a process of their own: Keras fixes its backend when it is first imported. And one
training step from the same weights gives the same loss and weights on both backends, and a
.keras archive written under either loads under the other with the same outputs."""

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


# Write or read a VAE's and a PixelCNN's .keras archives and record their deterministic
# outputs (the VAE's decoder, PixelCNN's exact log-likelihood of binary images).
ARCHIVE = """
import sys
import keras
import numpy as np
from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig, VAEConfig, get_family

folder, mode = sys.argv[1:3]
backend = keras.backend.backend()
rng = np.random.default_rng(0)
z = rng.normal(size=(4, 8)).astype("float32")
binary = (rng.uniform(size=(4, 6, 6, 1)) > 0.5).astype("float32")
if mode == "write":
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, 64, "train")
    small = DatasetInfo("synthetic", (6, 6, 1), 10, 64, "train")
    vae_settings = VAEConfig(latent_dim=8, base_filters=8, hidden_units=32)
    vae = get_family("vae").build(vae_settings, mnist, seed=1)
    pixelcnn = get_family("pixelcnn").build(
        PixelCNNConfig(variant="gated", filters=12, num_blocks=2), small, seed=1
    )
    vae.save(f"{folder}/vae-{backend}.keras")
    pixelcnn.save(f"{folder}/pixelcnn-{backend}.keras")
    written_by = backend
else:
    written_by = mode
    vae = keras.saving.load_model(f"{folder}/vae-{written_by}.keras")
    pixelcnn = keras.saving.load_model(f"{folder}/pixelcnn-{written_by}.keras")
np.savez(
    f"{folder}/{written_by}-read-by-{backend}.npz",
    decoded=keras.ops.convert_to_numpy(vae.decode(z)),
    log_p=keras.ops.convert_to_numpy(pixelcnn.log_likelihood(binary)),
)
"""


def _run(backend, *args):
    result = subprocess.run(
        [sys.executable, "-c", ARCHIVE, *map(str, args)],
        cwd=TESTS.parent,
        env=dict(os.environ, KERAS_BACKEND=backend),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize("writer, reader", [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_a_keras_archive_written_under_one_backend_loads_under_the_other(tmp_path, writer, reader):
    import numpy as np

    _run(writer, tmp_path, "write")
    _run(reader, tmp_path, writer)
    written = np.load(tmp_path / f"{writer}-read-by-{writer}.npz")
    read = np.load(tmp_path / f"{writer}-read-by-{reader}.npz")
    for name in ("decoded", "log_p"):
        np.testing.assert_allclose(read[name], written[name], rtol=1e-5, atol=1e-5)
