"""PixelCNN layers: mask shapes, causality by gradients, the blind spot, serialization."""

import keras
import numpy as np
import pytest
from backend_helpers import input_gradient

from kgen.layers import GatedPixelCNNBlock
from kgen.layers import MaskedConv2D
from kgen.layers import MaskedResidualBlock
from kgen.models.pixelcnn_config import NETWORKS

# Backend-agnostic: also run under JAX by tests/test_backends.py.
pytestmark = pytest.mark.backends


def _network(variant, shape, num_blocks=2, filters=12, params=1, **kwargs):
    keras.utils.set_random_seed(0)
    return NETWORKS[variant](shape, params, filters=filters, num_blocks=num_blocks, **kwargs)


def _input_gradient(network, images, row, col, colour):
    """|d outputs(row, col, colour) / d images|, summed over the batch: [H, W, C]."""
    channels = images.shape[-1]

    def target(images):
        # Outputs are parameter-major: feature k * channels + c belongs to colour c.
        return keras.ops.sum(network(images)[:, row, col, colour::channels])

    return np.abs(input_gradient(target, images)).sum(axis=0)


def _random_images(shape, num=4):
    return np.random.default_rng(0).uniform(-1, 1, size=(num,) + shape).astype("float32")


def _at_or_after(shape, row, col):
    """Pixels at or after (row, col) in raster order, as a [H, W] bool array."""
    rows, cols = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return (rows > row) | ((rows == row) & (cols >= col))


def test_mask_type_a_excludes_the_centre_and_b_includes_it():
    a = MaskedConv2D(1, 3, "A")
    b = MaskedConv2D(1, 3, "B")
    a.build((None, 5, 5, 1))
    b.build((None, 5, 5, 1))
    expected = np.array([[1, 1, 1], [1, 0, 0], [0, 0, 0]], dtype="float32")
    np.testing.assert_array_equal(a.mask[..., 0, 0], expected)
    expected[1, 1] = 1
    np.testing.assert_array_equal(b.mask[..., 0, 0], expected)


def test_rgb_centre_masks_order_the_colours():
    a = MaskedConv2D(3, 3, "A", color_channels=3)
    b = MaskedConv2D(3, 3, "B", color_channels=3)
    a.build((None, 5, 5, 3))
    b.build((None, 5, 5, 3))
    # centre[input colour, output colour]: R <- nothing, G <- R, B <- R, G (type A).
    np.testing.assert_array_equal(a.mask[1, 1], [[0, 1, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(b.mask[1, 1], [[1, 1, 1], [0, 1, 1], [0, 0, 1]])


def test_vertical_and_horizontal_stack_masks():
    vertical_a = MaskedConv2D(1, 3, "A", stack="vertical")
    vertical_b = MaskedConv2D(1, 3, "B", stack="vertical")
    horizontal = MaskedConv2D(1, 3, "A", stack="horizontal")
    for layer in (vertical_a, vertical_b, horizontal):
        layer.build((None, 5, 5, 1))
    np.testing.assert_array_equal(vertical_a.mask[..., 0, 0], [[1, 1, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(vertical_b.mask[..., 0, 0], [[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    assert horizontal.kernel.shape == (1, 3, 1, 1)
    np.testing.assert_array_equal(horizontal.mask[..., 0, 0], [[1, 0, 0]])


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(filters=4, kernel_size=4), "kernel_size=4"),
        (dict(filters=4, kernel_size=3, mask_type="C"), "mask_type='C'"),
        (dict(filters=4, kernel_size=3, stack="diagonal"), "stack='diagonal'"),
        (dict(filters=4, kernel_size=3, color_channels=3), "filters=4, color_channels=3"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        MaskedConv2D(**kwargs)


def test_masked_conv_output_ignores_later_pixels():
    layer = MaskedConv2D(2, 5, "A")
    images = _random_images((7, 7, 1))
    changed = images.copy()
    changed[:, 3, 3:] += 1.0  # the centre and everything after it on its row
    changed[:, 4:] -= 1.0  # every later row
    np.testing.assert_allclose(layer(images)[:, 3, 3], layer(changed)[:, 3, 3], rtol=0, atol=1e-6)
    assert not np.allclose(layer(images)[:, 4, 4], layer(changed)[:, 4, 4])


@pytest.mark.parametrize("variant", ["pixelcnn", "gated"])
@pytest.mark.parametrize("channels", [1, 3])
def test_outputs_have_zero_gradient_to_every_input_at_or_after_them(variant, channels):
    shape = (8, 8, channels)
    network = _network(variant, shape, params=2)
    # Enough images that some ReLU path from each earlier colour is open in one of them,
    # whatever the initial weights (they differ between Keras backends for one seed).
    images = _random_images(shape, num=16)
    for row, col in [(0, 0), (3, 4), (7, 7)]:
        for colour in range(channels):
            gradient = _input_gradient(network, images, row, col, colour)
            later = _at_or_after(shape, row, col)
            later[row, col] = False  # the centre pixel is checked colour by colour below
            assert not gradient[later].any(), (row, col, colour)
            centre = gradient[row, col]
            assert not centre[colour:].any(), f"colour {colour} sees itself or a later colour"
            if colour > 0:
                assert centre[:colour].all(), f"colour {colour} misses an earlier colour"
            if (row, col) != (0, 0):
                assert gradient[~_at_or_after(shape, row, col)].any()


def _receptive_field(shape, row, col, reach):
    """Earlier pixels within `reach` rows above and columns either side (the row itself to the
    left only): the field a stack of masked kernels with that total reach should cover."""
    field = np.zeros(shape[:2], dtype=bool)
    field[max(row - reach, 0) : row, max(col - reach, 0) : col + reach + 1] = True
    field[row, max(col - reach, 0) : col] = True
    return field


def test_gated_variant_has_no_blind_spot_where_the_plain_one_has():
    shape, row, col = (12, 12, 1), 8, 5
    images = _random_images(shape)
    # Reach: 3 from the 7x7 input layer, then 1 per 3x3 block.
    field = _receptive_field(shape, row, col, reach=3 + 1)
    gated = _input_gradient(_network("gated", shape, num_blocks=2), images, row, col, 0)[..., 0]
    assert gated[field].all(), "the gated stacks miss a pixel inside their receptive field"
    plain = _input_gradient(_network("pixelcnn", shape, num_blocks=1), images, row, col, 0)[..., 0]
    # The plain stack's blind spot: e.g. one row up and four columns right, which only
    # a later pixel on the current row could have relayed.
    assert field[row - 1, col + 4] and plain[row - 1, col + 4] == 0
    assert plain[row - 2, col + 4] > 0  # while the row above it is seen


@pytest.mark.parametrize(
    "layer, inputs",
    [
        (
            MaskedConv2D(6, 3, "A", stack="horizontal", color_channels=3),
            np.ones((2, 5, 5, 3), "float32"),
        ),
        # Settings other than the defaults, so a key missing from get_config changes the clone.
        (
            MaskedResidualBlock(12, kernel_size=5, color_channels=3, num_classes=4),
            np.ones((2, 5, 5, 12), "float32"),
        ),
        (
            GatedPixelCNNBlock(6, kernel_size=5, mask_type="A", color_channels=3, num_classes=4),
            [np.ones((2, 5, 5, 6), "float32")] * 2,
        ),
    ],
)
def test_layers_round_trip_through_their_config(layer, inputs):
    labels = np.array([0, 3]) if getattr(layer, "num_classes", None) else None
    kwargs = {"labels": labels} if labels is not None else {}
    outputs = layer(inputs, **kwargs)
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs, **kwargs)
    clone.set_weights(layer.get_weights())
    for a, b in zip(keras.tree.flatten(outputs), keras.tree.flatten(clone(inputs, **kwargs))):
        np.testing.assert_allclose(a, b, rtol=1e-6)
