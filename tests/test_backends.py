"""The tests marked `backends` (kgen's math in keras.ops: distributions, layers, networks,
metrics, every family's steps) run under TensorFlow in this suite and under JAX here, with
those marked `jax_only` (DataParallel), in processes of their own: Keras fixes its backend
when it is first imported. A run under JAX trains, resumes, logs and exports; one training
step from the same weights gives the same loss and weights on both backends; a .keras archive
written under either loads under the other with the same outputs; and the models and a
synthetic benchmark run on JAX without TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest
from helpers import jax_environment

TESTS = Path(__file__).resolve().parent


@pytest.mark.backends
def test_keras_runs_the_backend_asked_for():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


# The JAX process's CPU is split into two host devices, for the tests of DataParallel
# (tests/test_jax_devices.py); the other tests run on the first. JAX's compilation cache,
# in a folder of this test's, compiles each repeated program (a run again from the same
# seed, a model rebuilt alike) once.
def test_the_backend_tests_pass_under_jax(tmp_path):
    import jax  # noqa: F401  (in the test extra: a missing install fails here, not skips)

    env = jax_environment(devices=2, JAX_COMPILATION_CACHE_DIR=str(tmp_path))
    command = [sys.executable, "-m", "pytest", "-m", "backends or jax_only", "-n", "0", "-q"]
    command += ["-p", "no:cacheprovider", "--durations=0", str(TESTS)]
    result = subprocess.run(
        command, cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=600
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary, summary


# Under JAX, one process: it reads the archives this (TensorFlow) process wrote and takes one
# step (tests/across_backends.py); the driver trains a small WGAN-GP (both optimizers, the
# EMA, the seeds) on random images for 2 epochs of 4 steps without a break, and again with a
# break after step 5 (checkpoints every 2 steps) and a resume from step 4; it records both
# runs' final variables and exports the unbroken one (through the TensorFlow subprocess)
# with the EMA generator's images for fixed z; and it saves a VAE's and a PixelCNN's
# archives with their deterministic outputs.
JAX_RUN = """
import sys
sys.path.insert(0, "tests")
import across_backends
import keras
import numpy as np
from kgen.models import WGANGPConfig
from kgen.training import TrainConfig
from kgen.training.driver import fit
from kgen.training.variable_paths import variables_by_path
from kgen.export import ExportMetadata
from kgen.workflows import export_model

folder = sys.argv[1]
across_backends.run(folder, "read")
rng = np.random.default_rng(0)
images = (rng.uniform(size=(32, 28, 28, 1)) * 255).astype("uint8")
np.savez(f"{folder}/tiny.npz", images=images, labels=rng.integers(0, 10, 32))
model_config = WGANGPConfig(latent_dim=8, base_filters=8, d_steps=2)


class Break(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if self.model.g_optimizer.iterations.numpy() == 5:
            raise KeyboardInterrupt


def train(logdir, callbacks=()):
    config = TrainConfig(
        dataset=f"{folder}/tiny.npz", eval_split="none", batch_size=8, epochs=2, seed=3,
        checkpoint_every=2, log_every=2, logdir=f"{folder}/{logdir}",
    )
    extras = lambda setup: list(callbacks)
    return fit("wgan-gp", model_config, config, verbose=0, extra_callbacks=extras)


def final_values(model):
    return {path: keras.ops.convert_to_numpy(v) for path, v in variables_by_path(model).items()}


straight = train("straight")
try:
    train("broken", [Break()])
    raise SystemExit("the break did not happen")
except KeyboardInterrupt:
    pass
resumed = train("broken")
assert resumed.resumed_from_step == 4, resumed.resumed_from_step
assert straight.final_step == resumed.final_step == 8
np.savez(f"{folder}/straight.npz", **final_values(straight.model))
np.savez(f"{folder}/resumed.npz", **final_values(resumed.model))
z = rng.normal(size=(4, 8)).astype("float32")
metadata = ExportMetadata("wgan-gp")
exported = export_model(straight.model, f"{folder}/export", metadata=metadata)
generated = keras.ops.convert_to_numpy(straight.model.generate(z))
np.savez(f"{folder}/generated.npz", z=z, images=generated)
# A VAE's and a PixelCNN's deterministic endpoints under JAX, beside their .keras archives.
from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig, VAEConfig, get_family

vae_settings = VAEConfig(latent_dim=8, base_filters=8, hidden_units=32)
vae = get_family("vae").build(vae_settings, DatasetInfo("mnist", (28, 28, 1), 10, 64, "train"))
small = DatasetInfo("synthetic", (6, 6, 1), 10, 64, "train")
pixelcnn_settings = PixelCNNConfig(variant="gated", filters=12, num_blocks=2)
pixelcnn = get_family("pixelcnn").build(pixelcnn_settings, small)
vae.save(f"{folder}/vae.keras")
pixelcnn.save(f"{folder}/pixelcnn.keras")
x = (images[:4] / 255).astype("float32")
binary = (rng.uniform(size=(4, 6, 6, 1)) > 0.5).astype("float32")
mean, log_variance = vae.encode(x)
np.savez(
    f"{folder}/endpoints.npz", x=x, z=z, binary=binary,
    decoded=keras.ops.convert_to_numpy(vae.decode(z)),
    mean=keras.ops.convert_to_numpy(mean), log_variance=keras.ops.convert_to_numpy(log_variance),
    log_prob=keras.ops.convert_to_numpy(pixelcnn.log_likelihood(binary)),
)
print(exported)
"""


def test_a_jax_run_resumes_as_if_unbroken_logs_and_exports_what_tensorflow_serves(tmp_path):
    import across_backends
    import keras
    import numpy as np
    from helpers import build_small
    from helpers import run_with_tensorflow_only

    from kgen.export import export_saved_model

    across_backends.run(str(tmp_path), "write")

    result = subprocess.run(
        [sys.executable, "-c", JAX_RUN, str(tmp_path)],
        cwd=TESTS.parent,
        # The three runs of one model compile one program: JAX's cache keeps it.
        env=jax_environment(JAX_COMPILATION_CACHE_DIR=str(tmp_path / "xla")),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # TensorFlow's .keras archives load under JAX with the same outputs, and one step from
    # the same weights gives the same loss and the same weights after Adam's update.
    written = np.load(tmp_path / "tensorflow-read-by-tensorflow.npz")
    read = np.load(tmp_path / "tensorflow-read-by-jax.npz")
    for name in ("decoded", "log_p"):
        np.testing.assert_allclose(read[name], written[name], rtol=1e-5, atol=1e-5, err_msg=name)
    tf_step, jax_step = (np.load(tmp_path / f"step-{name}.npz") for name in ("tensorflow", "jax"))
    np.testing.assert_allclose(jax_step["loss"], tf_step["loss"], rtol=1e-5)
    arrays = [name for name in tf_step.files if name.startswith("arr_")]
    assert arrays and set(arrays) == {n for n in jax_step.files if n.startswith("arr_")}
    for name in arrays:
        np.testing.assert_allclose(jax_step[name], tf_step[name], rtol=1e-4, atol=1e-6)
    # Resumed from step 4 of 8, the broken run ends where the unbroken one does: weights,
    # both optimizers' moments and counts, the EMA, the seed generators' states.
    straight, resumed = np.load(tmp_path / "straight.npz"), np.load(tmp_path / "resumed.npz")
    assert set(straight.files) == set(resumed.files)
    assert any(name.startswith("d_optimizer/") for name in straight.files)
    for name in straight.files:
        np.testing.assert_allclose(
            resumed[name], straight[name], rtol=1e-5, atol=1e-6, err_msg=name
        )
    # TensorBoard: the step and epoch scalars and the image grids were written.
    assert list((tmp_path / "straight" / "train").glob("events.out.tfevents.*"))
    # The SavedModel serves with TensorFlow alone: the EMA generator's images for the same z,
    # and the signatures of the model's endpoints under TensorFlow.
    # The VAE's and PixelCNN's archives written under JAX load here, under TensorFlow, and
    # export as `export_model` does from JAX (the TensorFlow exporter on the archive).
    exported = result.stdout.strip().splitlines()[-1]
    generated = np.load(tmp_path / "generated.npz")
    at_jax = np.load(tmp_path / "endpoints.npz")
    others = {
        name: export_saved_model(
            keras.saving.load_model(tmp_path / f"{name}.keras"), str(tmp_path / name)
        )
        for name in ("vae", "pixelcnn")
    }
    served = run_with_tensorflow_only(
        exported,
        """
        generate = loaded.signatures["generate"]
        outputs["images"] = generate(z=tf.constant(inputs["z"]))["images"].numpy()
        vae = tf.saved_model.load(str(inputs["vae"]))
        pixelcnn = tf.saved_model.load(str(inputs["pixelcnn"]))
        outputs["decoded"] = vae.signatures["decode"](z=tf.constant(inputs["z"]))["images"].numpy()
        encoded = vae.signatures["encode"](images=tf.constant(inputs["x"]))
        outputs["mean"] = encoded["mean"].numpy()
        outputs["log_variance"] = encoded["log_variance"].numpy()
        log_prob = pixelcnn.signatures["log_prob"](images=tf.constant(inputs["binary"]))
        outputs["log_prob"] = log_prob["log_prob"].numpy()
        specs = {n: f.structured_input_signature[1] for n, f in loaded.signatures.items()}
        outputs["signatures"] = np.array(sorted(
            f"{name}:{sorted((k, list(s.shape), s.dtype.name) for k, s in inputs.items())}"
            for name, inputs in specs.items()
        ))
        """,
        z=generated["z"],
        x=at_jax["x"],
        binary=at_jax["binary"],
        vae=np.array(others["vae"]),
        pixelcnn=np.array(others["pixelcnn"]),
    )
    np.testing.assert_allclose(served["images"], generated["images"], rtol=1e-5, atol=1e-5)
    for name in ("decoded", "mean", "log_variance", "log_prob"):
        np.testing.assert_allclose(served[name], at_jax[name], rtol=1e-5, atol=1e-5, err_msg=name)
    model = build_small("wgan-gp")
    endpoints = {name: endpoint.inputs for name, endpoint in model.export_endpoints().items()}
    endpoints["serving_default"] = endpoints[model.serving_default]
    expected = sorted(
        f"{name}:{sorted((k, list(shape), dtype) for k, (shape, dtype) in inputs.items())}"
        for name, inputs in endpoints.items()
    )
    assert list(served["signatures"]) == expected


# TensorFlow, TFDS and TensorBoard made unimportable, as on a host with Keras and JAX only.
WITHOUT_TENSORFLOW = """
import importlib.abc
import runpy
import sys


class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets", "tensorboard"):
            raise ImportError(f"{name} is not installed here")


sys.meta_path.insert(0, NoTensorFlow())
import kgen.models  # noqa: E402
from kgen.models import jax_steps, training_steps  # noqa: E402,F401

sys.argv = ["kgen", *sys.argv[1:]]
runpy.run_module("cli.main", run_name="__main__")
"""


def test_the_models_and_a_synthetic_bench_run_on_jax_without_tensorflow():
    import json

    bench = "--backend jax bench pixelcnn --synthetic --json --filters 8 --num-blocks 1"
    bench += " --steps 1 --warmup 1 --sample-size 1 --batch-size 8"
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, *bench.split()],
        cwd=TESTS.parent,
        env=jax_environment(),  # for the imports before the CLI's
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["backend"] == "jax" and figures["synthetic"] is True
    assert figures["image_shape"] == [28, 28, 1] and figures["input_images_per_s"] is None
    assert figures["train_images_per_s"] > 0 and figures["sample_images_per_s"] > 0
