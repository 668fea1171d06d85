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


# Three processes, TensorFlow, JAX, TensorFlow: each writes a VAE's and a PixelCNN's .keras
# archives (with the outputs they give where they were written) or reads the other
# backend's (with the outputs they give there): the VAE's decoder and PixelCNN's exact
# log-likelihood, both deterministic. The TensorFlow and JAX processes also take one
# training step of the same PixelCNN (JAX's read from TensorFlow's archive) on a binary
# batch, which makes the Bernoulli targets exact, so no random draw enters it.
ACROSS_BACKENDS = """
import sys
import keras
import numpy as np
from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig, VAEConfig, get_family

folder, phase = sys.argv[1:3]
backend = keras.backend.backend()
rng = np.random.default_rng(0)
z = rng.normal(size=(4, 8)).astype("float32")
binary = (rng.uniform(size=(16, 6, 6, 1)) > 0.5).astype("float32")


def record(writer, vae, pixelcnn):
    np.savez(
        f"{folder}/{writer}-read-by-{backend}.npz",
        decoded=keras.ops.convert_to_numpy(vae.decode(z)),
        log_p=keras.ops.convert_to_numpy(pixelcnn.log_likelihood(binary)),
    )


def write():
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, 64, "train")
    small = DatasetInfo("synthetic", (6, 6, 1), 10, 64, "train")
    vae_settings = VAEConfig(latent_dim=8, base_filters=8, hidden_units=32)
    vae = get_family("vae").build(vae_settings, mnist, seed=1)
    pixelcnn_settings = PixelCNNConfig(variant="gated", filters=12, num_blocks=2)
    pixelcnn = get_family("pixelcnn").build(pixelcnn_settings, small, seed=1)
    vae.save(f"{folder}/vae-{backend}.keras")
    pixelcnn.save(f"{folder}/pixelcnn-{backend}.keras")
    record(backend, vae, pixelcnn)
    return pixelcnn


def read(writer):
    vae = keras.saving.load_model(f"{folder}/vae-{writer}.keras")
    pixelcnn = keras.saving.load_model(f"{folder}/pixelcnn-{writer}.keras")
    record(writer, vae, pixelcnn)
    return pixelcnn


def one_step(pixelcnn):
    history = pixelcnn.fit({"image": binary}, batch_size=16, epochs=1, shuffle=False, verbose=0)
    weights = [keras.ops.convert_to_numpy(v) for v in pixelcnn.trainable_variables]
    np.savez(f"{folder}/step-{backend}.npz", *weights, loss=history.history["loss"][0])


if phase == "write":
    one_step(write())
elif phase == "read-and-write":
    one_step(read("tensorflow"))
    write()
else:
    read("jax")
"""


def test_archives_and_one_training_step_agree_across_backends(tmp_path):
    import numpy as np

    for backend, phase in [
        ("tensorflow", "write"),
        ("jax", "read-and-write"),
        ("tensorflow", "read"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", ACROSS_BACKENDS, str(tmp_path), phase],
            cwd=TESTS.parent,
            env=dict(os.environ, KERAS_BACKEND=backend),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    # A .keras archive written under either backend loads under the other, same outputs.
    for writer, reader in [("tensorflow", "jax"), ("jax", "tensorflow")]:
        written = np.load(tmp_path / f"{writer}-read-by-{writer}.npz")
        read = np.load(tmp_path / f"{writer}-read-by-{reader}.npz")
        for name in ("decoded", "log_p"):
            np.testing.assert_allclose(read[name], written[name], rtol=1e-5, atol=1e-5)
    # One step from the same weights: the same loss, the same weights after Adam's update.
    tf_step, jax_step = (np.load(tmp_path / f"step-{name}.npz") for name in ("tensorflow", "jax"))
    np.testing.assert_allclose(jax_step["loss"], tf_step["loss"], rtol=1e-5)
    arrays = [name for name in tf_step.files if name.startswith("arr_")]
    assert arrays and set(arrays) == {n for n in jax_step.files if n.startswith("arr_")}
    for name in arrays:
        np.testing.assert_allclose(jax_step[name], tf_step[name], rtol=1e-4, atol=1e-6)
