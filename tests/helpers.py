"""Small builders shared by the tests."""

import numpy as np

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
