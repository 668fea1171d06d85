"""Small builders and runners shared by the tests."""

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import tensorflow as tf

from kgen.data import DatasetInfo
from kgen.models import VAEConfig
from kgen.models import get_family

MNIST_INFO = DatasetInfo(
    name="synthetic", image_shape=(28, 28, 1), num_classes=10, num_examples=64, split="train"
)


def small_vae_config(**overrides):
    """A VAE small enough for a unit test to train in seconds."""
    settings = dict(latent_dim=8, base_filters=8, hidden_units=64)
    settings.update(overrides)
    return VAEConfig(**settings)


def build_small_vae(info=MNIST_INFO, seed=1, **overrides):
    return get_family("vae").build(small_vae_config(**overrides), info, seed=seed)


def build_small_adversarial(name, seed=1, **overrides):
    """A GAN or WGAN-GP (latent 8, 8 filters) for 28x28x1 images; Keras's global seed is
    reset first, so two builds with the same settings start from the same weights. On JAX
    the step is compiled, as Keras's JAX trainer does by default."""
    import keras

    keras.utils.set_random_seed(0)
    family = get_family(name)
    settings = dict(latent_dim=8, base_filters=8)
    settings.update(overrides)
    jit = keras.backend.backend() == "jax"
    return family.build(family.config_class(**settings), MNIST_INFO, seed=seed, jit_compile=jit)


# Settings of a model small enough to export in seconds, by family; PixelCNN samples pixel
# by pixel, so it draws small images (SMALL_PIXELCNN_INFO).
SMALL_SETTINGS = {
    "vae": dict(latent_dim=8, base_filters=8, hidden_units=64),
    "gan": dict(latent_dim=8, base_filters=8),
    "wgan-gp": dict(latent_dim=8, base_filters=8),
    "pixelcnn": dict(variant="gated", filters=12, num_blocks=2),
}
SMALL_PIXELCNN_INFO = DatasetInfo(
    name="synthetic", image_shape=(6, 6, 1), num_classes=10, num_examples=64, split="train"
)


def build_small(name, conditional=False, seed=1):
    """An untrained model of family `name` (a key of SMALL_SETTINGS), as small as a test of
    its export needs; 10 classes when `conditional`."""
    family = get_family(name)
    info = SMALL_PIXELCNN_INFO if name == "pixelcnn" else MNIST_INFO
    config = family.config_class(**SMALL_SETTINGS[name], conditional=conditional)
    return family.build(config, info, seed=seed)


def binary_batch(num=16, shape=(28, 28, 1), seed=0, num_classes=10):
    """Images of 0/1 pixels (so binarization is deterministic) and labels."""
    rng = np.random.default_rng(seed)
    images = (rng.random((num,) + shape) < 0.3).astype("float32")
    labels = rng.integers(0, num_classes, size=num).astype("int32")
    return images, labels


def invoke(*args):
    """Run `kgen ARGS...` in-process; exceptions other than Click's propagate."""
    from click.testing import CliRunner

    from cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def assert_clean_error(result, *fragments):
    """A non-zero exit with no traceback, whose output names each of `fragments`."""
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def invoke_in(folder, *args):
    """`invoke(*args)` with `folder` as the working directory (where runs/ lands)."""
    import os

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        return invoke(*args)
    finally:
        os.chdir(cwd)


def one_step_weights(strategy, build, images, labels=None, pin=None):
    """The weights after one training step on one batch: `build()` makes the compiled model
    inside `strategy`'s scope, `pin(model)` (if given) then fixes the randomness the runs
    compare must not depend on, and the model fits one epoch of a single batch of `images`
    (with `labels` under "label" when given)."""
    with strategy.scope():
        model = build()
    if pin is not None:
        pin(model)
    examples = {"image": images} if labels is None else {"image": images, "label": labels}
    dataset = tf.data.Dataset.from_tensor_slices(examples).batch(len(images))
    model.fit(dataset, epochs=1, verbose=0)
    return [w.numpy() for w in model.weights]


def assert_one_step_same_on_two_replicas(
    two_replica_strategy, build, images, labels=None, pin=None, rtol=1e-4, atol=1e-6
):
    """One training step (see `one_step_weights`) on one device and on two replicas gives
    the same weights, and the step changed them (so that the comparison means something)."""
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    one = one_step_weights(one_device, build, images, labels, pin)
    two = one_step_weights(two_replica_strategy, build, images, labels, pin)
    initial = [w.numpy() for w in build().weights]
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(one, initial)), "the step changed nothing"
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# Around the script of run_with_tensorflow_only, in a fresh interpreter.
_TENSORFLOW_ONLY_PRELUDE = """
import sys
import numpy as np
import tensorflow as tf
saved_model_path, inputs_path, outputs_path = sys.argv[1:]
loaded = tf.saved_model.load(saved_model_path)
with np.load(inputs_path) as stored:
    inputs = dict(stored)
outputs = {}
"""
_TENSORFLOW_ONLY_EPILOGUE = """
np.savez(outputs_path, **outputs)
assert not any(name.split(".")[0] == "kgen" for name in sys.modules), "loading needed kgen"
"""


# The JAX tests' programs are small, and XLA's compile time dominates them: with LLVM's
# optimizations off they compile several times faster, to the same values within float32
# tolerance (the tests marked for JAX: 139 s -> 96 s on the 2-core CI machine).
FAST_XLA_COMPILE = "--xla_backend_optimization_level=0"


def jax_environment(devices=1, **variables):
    """The environment of a subprocess on Keras's JAX backend: os.environ with
    KERAS_BACKEND=jax, XLA compiling fast, the CPU split into `devices` host devices, and
    `variables`."""
    flags = FAST_XLA_COMPILE
    if devices > 1:
        flags += f" --xla_force_host_platform_device_count={devices}"
    return dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS=flags, **variables)


def run_with_tensorflow_only(saved_model, script, **inputs):
    """Run `script` in a fresh interpreter that imports TensorFlow and NumPy only, as a
    server would, and return the NumPy arrays it puts in `outputs` (a dict, by name).

    Before the script runs, `loaded` is `tf.saved_model.load(saved_model)` and `inputs` holds
    the given NumPy arrays by name; `np`, `tf` and `sys` are imported. The run fails if the
    process exits non-zero or imported kgen. (TensorFlow imports Keras itself, so Keras is
    not checked.)"""
    with tempfile.TemporaryDirectory() as folder:
        inputs_path = os.path.join(folder, "inputs.npz")
        outputs_path = os.path.join(folder, "outputs.npz")
        np.savez(inputs_path, **inputs)
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _TENSORFLOW_ONLY_PRELUDE + textwrap.dedent(script) + _TENSORFLOW_ONLY_EPILOGUE,
                str(saved_model),
                inputs_path,
                outputs_path,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        with np.load(outputs_path) as stored:
            return dict(stored)
