"""PixelCNN's fast sampler, compiled as one loop by the running backend's XLA, draws the
same images as the naive one (a full forward pass per pixel) from the same noise. Marked
`backends`: it runs on TensorFlow here and on JAX in tests/test_backends.py."""

import keras
import numpy as np
import pytest
from backend_helpers import compiled

from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig
from kgen.models import get_family

pytestmark = pytest.mark.backends


@pytest.mark.parametrize(
    "variant, shape, conditional",
    [("pixelcnn", (6, 6, 1), False), ("gated", (6, 6, 1), True), ("gated", (4, 4, 3), False)],
)
def test_compiled_fast_sampler_draws_what_the_naive_one_draws(variant, shape, conditional):
    info = DatasetInfo(
        name="synthetic", image_shape=shape, num_classes=10, num_examples=8, split="train"
    )
    keras.utils.set_random_seed(0)
    settings = PixelCNNConfig(variant=variant, filters=12, num_blocks=2, conditional=conditional)
    model = get_family("pixelcnn").build(settings, info, seed=1)
    labels = np.array([0, 3, 9], "int32") if conditional else None
    noise = model.sampling_noise(3, seed=7, labels=labels)
    naive = keras.ops.convert_to_numpy(model.sample_naive_from_noise(noise, labels))
    fast = keras.ops.convert_to_numpy(compiled(model.sample_from_noise)(noise, labels))
    levels = lambda images: np.round(images * 255).astype(int)  # noqa: E731
    np.testing.assert_array_equal(levels(fast), levels(naive))
    assert 0 < levels(fast).mean() < 255  # not a blank image
