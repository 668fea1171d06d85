"""The Keras versions kgen is tested on, for the code that relies on Keras internals."""

import re

import keras

# kgen reaches into Keras internals in two places, both checked on these versions only:
# kgen/random.py imports the backend's seed dtype from `keras.src`, and MultiWorkerStrategy
# (kgen/training/strategy.py) adapts `reduce` to the calls Keras's TensorFlow trainer makes.
# [lowest, first unsupported) as (major, minor); pyproject.toml's `keras` bound says the same.
SUPPORTED_KERAS = ((3, 15), (3, 16))


def supported_range():
    """The supported versions as a requirement specifier, e.g. ">=3.15,<3.16"."""
    (low_major, low_minor), (high_major, high_minor) = SUPPORTED_KERAS
    return f">={low_major}.{low_minor},<{high_major}.{high_minor}"


def unsupported_keras(what):
    """None if the installed Keras is a supported version; otherwise a message saying that
    `what` needs one, naming the version found and the supported range."""
    found = keras.__version__  # read at call time: the version actually imported
    match = re.match(r"(\d+)\.(\d+)", found)
    if match and SUPPORTED_KERAS[0] <= (int(match[1]), int(match[2])) < SUPPORTED_KERAS[1]:
        return None
    return (
        f"{what} relies on Keras internals that kgen has checked only on keras{supported_range()}, "
        f"but keras {found} is installed; install a supported version: "
        f"pip install 'keras{supported_range()}'."
    )
