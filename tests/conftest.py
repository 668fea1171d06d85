"""Shared pytest fixtures. Data fixtures are session-scoped so TFDS prepares each dataset once
per test process (pytest-xdist runs one per core)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow as tf

# Two logical CPU devices, so distribution tests can compare 1 and 2 replicas in one process.
# This must happen before TensorFlow initialises its devices, hence at import time.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

# The raw files live beside the repo, in ../shared/data/{mnist,binarized_mnist}; never copied in.
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """Root of the raw dataset files (one sub-folder per TFDS dataset)."""
    assert SHARED_DATA_DIR.is_dir(), (
        f"raw data folder {SHARED_DATA_DIR} is missing; it must hold mnist/ and "
        "binarized_mnist/ with the TFDS raw files"
    )
    return SHARED_DATA_DIR


@pytest.fixture(scope="session", autouse=True)
def _kgen_manual_dir(shared_data_dir):
    """Points KGEN_MANUAL_DIR at the shared raw files for the whole session (no internet here)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KGEN_MANUAL_DIR", str(shared_data_dir))
        yield


@pytest.fixture(scope="session", autouse=True)
def _train_without_xla():
    """The suite trains with XLA off, as `--jit-compile auto` does on a CPU: XLA spends
    seconds compiling each model's step, which the suite's many short fits of small models
    would spend compiling rather than testing. Subprocesses and the CLI read
    KGEN_JIT_COMPILE; the Python API, the device table. tests/test_training.py tests the
    default and an XLA fit explicitly."""
    from kgen.training import strategy

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KGEN_JIT_COMPILE", "off")
        patch.setitem(strategy.JIT_COMPILE_BY_DEVICE, "CPU", False)
        yield


@pytest.fixture(scope="session")
def tfds_data_dir(tmp_path_factory) -> Path:
    """TFDS data_dir shared by the session, so a dataset is prepared at most once per run."""
    return tmp_path_factory.mktemp("tfds_data")


@pytest.fixture(scope="session")
def mnist_small(tfds_data_dir):
    """(dataset, info) of the first 256 MNIST training examples."""
    from kgen.data import load_source

    return load_source("mnist", "train", data_dir=tfds_data_dir, limit=256)


@pytest.fixture(scope="session")
def two_replica_strategy():
    """One MirroredStrategy over the two logical CPUs, shared by the whole session.

    TensorFlow numbers collective ops per process, so two MirroredStrategy objects over the
    same devices can collide ("Shape mismatch in the collective instance"); a training
    process only ever makes one, and so do the tests.
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, f"expected two logical CPUs, got {devices}"
    return tf.distribute.MirroredStrategy(devices)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory, tfds_data_dir):
    """A domain classifier SavedModel trained for 2 epochs on 2000 MNIST images (about 90%
    accurate), for the sample-quality tests; the real one trains on all of MNIST."""
    from kgen.models import ClassifierConfig
    from kgen.training import TrainConfig
    from kgen.workflows import train

    folder = tmp_path_factory.mktemp("classifier")
    train_config = TrainConfig(
        dataset="mnist",
        data_dir=str(tfds_data_dir),
        limit=2000,
        epochs=2,
        batch_size=64,
        seed=0,
        logdir=str(folder / "run"),
        export=str(folder / "saved_model"),
    )
    result = train("classifier", ClassifierConfig(feature_units=32), train_config, verbose=0)
    assert result.metrics["val_accuracy"] > 0.85, result.metrics
    return result.export_dir
