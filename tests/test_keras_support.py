"""kgen's reliance on Keras internals is bounded to the Keras versions it was checked on."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import pytest
import tensorflow as tf

from kgen.errors import ConfigError
from kgen.keras_support import supported_range
from kgen.keras_support import unsupported_keras
from kgen.training.strategy import make_strategy

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_bounds_keras_to_the_supported_range():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.findall(r'"keras([^"]*)"', pyproject) == [supported_range()]


def test_the_installed_keras_is_supported():
    assert unsupported_keras("kgen") is None


def test_multi_worker_refuses_another_keras_before_starting_collectives(monkeypatch):
    monkeypatch.setattr(keras, "__version__", "3.16.0")
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})
    )

    def never(self, *args, **kwargs):
        raise AssertionError("a real MultiWorkerMirroredStrategy was created")

    monkeypatch.setattr(tf.distribute.MultiWorkerMirroredStrategy, "__init__", never)
    with pytest.raises(ConfigError) as caught:
        make_strategy("multi-worker")
    message = str(caught.value)
    assert "keras 3.16.0" in message and ">=3.15,<3.16" in message and "multi-worker" in message


def test_a_missing_keras_internal_names_the_supported_range():
    # A fresh interpreter whose Keras lacks the private seed dtype kgen.random imports.
    code = (
        "import keras.src.backend as backend\n"
        "del backend.random_seed_dtype\n"
        "import keras; keras.__version__ = '3.99.0'\n"
        "import kgen.random\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode != 0
    assert "ImportError: kgen.random" in result.stderr and ">=3.15,<3.16" in result.stderr
    assert "keras 3.99.0" in result.stderr
