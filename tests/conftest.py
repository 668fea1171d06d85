"""Shared pytest fixtures. Data fixtures are session-scoped so TFDS prepares each dataset once
per test process (pytest-xdist runs one per core)."""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

import pytest
import tensorflow as tf

# Two logical CPU devices, so distribution tests can compare 1 and 2 replicas in one process.
# This must happen before TensorFlow initialises its devices, hence at import time.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

# Tests marked `real_data` read real MNIST and binarized MNIST through TFDS. They prepare it
# from a folder of the raw files when one is given (KGEN_TEST_DATA, else ../shared/data beside
# the repository where it exists) and otherwise let TFDS download them; with neither, they skip
# with the reason, or fail when KGEN_REQUIRE_REAL_DATA=1 (.ci/run sets it, so CI runs them all).
REAL_DATASETS = ("mnist", "binarized_mnist")
REAL_DATA_FIXTURES = {"mnist_small", "classifier", "raw_data_dir"}
SHARED_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def _howto(builders) -> str:
    """How to provide the raw files: the folder layout, file names from the TFDS builders."""
    from kgen.data.tfds_source import expected_files

    layout = " and ".join(
        f"{builder.name}/ ({', '.join(file for file, _ in expected_files(builder))})"
        for builder in builders
    )
    return (
        f"to run them, set KGEN_TEST_DATA=DIR where DIR holds {layout}, or go online so TFDS "
        "can download them; see README, Tests"
    )


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "real_data: reads real MNIST / binarized MNIST (raw folder or TFDS download); "
        "skipped with the reason when neither is available",
    )


def _raw_data_folder() -> Path | None:
    """The folder of raw files the tests prepare TFDS from, or None to download."""
    given = os.environ.get("KGEN_TEST_DATA")
    if given:
        return Path(given).expanduser().resolve()
    return SHARED_DATA_DIR if SHARED_DATA_DIR.is_dir() else None


@functools.cache
def _real_data_unavailable() -> str | None:
    """Why the real-data tests cannot run here, or None when they can."""
    import tensorflow_datasets as tfds

    from kgen.data.tfds_source import check_reachable
    from kgen.data.tfds_source import expected_files
    from kgen.data.tfds_source import resolve_manual_dir
    from kgen.errors import DataError

    folder = _raw_data_folder()
    with tempfile.TemporaryDirectory() as scratch:
        builders = [tfds.builder(name, data_dir=scratch) for name in REAL_DATASETS]
        if folder is not None:
            missing = [
                f"{builder.name}/{file}"
                for builder in builders
                for file, _ in expected_files(builder)
                if not (resolve_manual_dir(folder, builder.name) / file).is_file()
            ]
            if missing:
                return f"raw data folder {folder} lacks {', '.join(missing)}; {_howto(builders)}"
            return None
        # No folder: TFDS will download. kgen's own check (one short request, through the
        # proxies TFDS would use) tells whether that can work before any test waits on it.
        for builder in builders:
            try:
                check_reachable(builder)
            except DataError as error:
                return (
                    f"no raw data folder (KGEN_TEST_DATA unset, no {SHARED_DATA_DIR}) and TFDS "
                    f"cannot download {builder.name} ({error.__cause__.__class__.__name__}); "
                    f"{_howto(builders)}"
                )
    return None


def pytest_collection_modifyitems(config, items):
    """Tests that use a fixture built from real MNIST need real data too; tests marked
    `jax_only` are deselected unless Keras runs on JAX (tests/test_backends.py runs them)."""
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_data)
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "jax":
        jax_only = [item for item in items if item.get_closest_marker("jax_only")]
        if jax_only:
            config.hook.pytest_deselected(items=jax_only)
            items[:] = [item for item in items if not item.get_closest_marker("jax_only")]


def pytest_runtest_setup(item):
    if item.get_closest_marker("real_data") is None:
        return
    reason = _real_data_unavailable()
    if reason is not None:
        _skip_or_fail(reason)


def _skip_or_fail(reason: str):
    if os.environ.get("KGEN_REQUIRE_REAL_DATA") == "1":
        pytest.fail(f"KGEN_REQUIRE_REAL_DATA=1 and real MNIST is unavailable: {reason}")
    pytest.skip(f"real MNIST unavailable: {reason}")


@pytest.fixture(scope="session")
def raw_data_dir() -> Path:
    """Root of the raw dataset files (one sub-folder per TFDS dataset), for tests that read
    the raw files themselves; skips (or fails, see above) when the tests download instead."""
    folder = _raw_data_folder()  # the real_data check has run: a folder here is complete
    if folder is None:
        _skip_or_fail("this test reads the raw files themselves: set KGEN_TEST_DATA=DIR")
    return folder


@pytest.fixture(scope="session", autouse=True)
def _kgen_manual_dir():
    """Points KGEN_MANUAL_DIR at the raw files for the whole session, or clears it so that
    TFDS downloads (a user's own KGEN_MANUAL_DIR must not decide what the tests read)."""
    folder = _raw_data_folder()
    with pytest.MonkeyPatch.context() as patch:
        if folder is None:
            patch.delenv("KGEN_MANUAL_DIR", raising=False)
        else:
            patch.setenv("KGEN_MANUAL_DIR", str(folder))
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
