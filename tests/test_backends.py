"""The tests marked `backends` (kgen's math in keras.ops: distributions, layers, networks,
metrics) run under TensorFlow in this suite and under JAX here, in a process of their own:
Keras fixes its backend when it is first imported."""

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
