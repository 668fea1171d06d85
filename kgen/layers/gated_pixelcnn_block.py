"""The gated PixelCNN block: a vertical and a horizontal stack with no blind spot."""

import keras
from keras import ops

from kgen.layers._conditioning import label_bias
from kgen.layers.masked_conv2d import MaskedConv2D


def gate(features):
    """tanh(a) * sigmoid(b) for the two halves (a, b) of the last axis."""
    values, gates = ops.split(features, 2, axis=-1)
    return ops.tanh(values) * ops.sigmoid(gates)


@keras.saving.register_keras_serializable(package="kgen")
class GatedPixelCNNBlock(keras.layers.Layer):
    """One layer of the gated PixelCNN (van den Oord et al. 2016, "Conditional Image
    Generation with PixelCNN Decoders").

    The vertical stack sees every row above the current one (a k x k kernel masked to the
    rows above); the horizontal stack sees the current row to the left (a 1 x k kernel) and
    takes the vertical stack's features through a 1x1 link. Because the vertical features
    never hold the current row, the two together cover everything above and to the left
    with no blind spot. Each stack ends in a gated unit tanh(W_f * x) * sigmoid(W_g * x);
    the horizontal stack adds a residual connection (type B layers) and emits a skip
    output that the network sums over blocks.

    Call on [vertical, horizontal] (and `labels` when conditional); returns
    [vertical, horizontal, skip].

    Args:
        filters: width of both stacks (a multiple of color_channels).
        kernel_size: odd kernel size of both stacks.
        mask_type: "A" for the first block, which reads the image (no residual), else "B".
        color_channels: 1, or 3 for RGB ordering inside a pixel.
        num_classes: number of labels for class conditioning, or None.
    """

    def __init__(
        self, filters, kernel_size=3, mask_type="B", color_channels=1, num_classes=None, **kwargs
    ):
        super().__init__(**kwargs)
        # === Config ===
        self.filters = filters
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        self.color_channels = color_channels
        self.num_classes = num_classes
        self.residual = mask_type == "B"
        # === Layers ===
        width = 2 * filters
        self.vertical_conv = MaskedConv2D(
            width, kernel_size, mask_type, stack="vertical", name="vertical_conv"
        )
        self.horizontal_conv = MaskedConv2D(
            width,
            kernel_size,
            mask_type,
            stack="horizontal",
            color_channels=color_channels,
            name="horizontal_conv",
        )
        # The vertical features carry nothing from the current row, so the link needs no
        # colour mask (one colour group: a plain 1x1 convolution).
        self.link = MaskedConv2D(width, 1, "B", name="link")
        self.skip_conv = MaskedConv2D(
            filters, 1, "B", color_channels=color_channels, name="skip_conv"
        )
        self.residual_conv = MaskedConv2D(
            filters, 1, "B", color_channels=color_channels, name="residual_conv"
        )
        self.label_bias = (
            keras.layers.Embedding(num_classes, width, name="label_bias") if num_classes else None
        )

    def build(self, input_shape):
        vertical_shape, horizontal_shape = input_shape
        stack_shape = tuple(horizontal_shape[:-1]) + (2 * self.filters,)
        gated_shape = tuple(horizontal_shape[:-1]) + (self.filters,)
        self.vertical_conv.build(vertical_shape)
        self.horizontal_conv.build(horizontal_shape)
        self.link.build(stack_shape)
        self.skip_conv.build(gated_shape)
        self.residual_conv.build(gated_shape)
        if self.label_bias is not None:
            self.label_bias.build((None,))

    def call(self, inputs, labels=None):
        vertical, horizontal = inputs
        vertical_features, vertical_out = self.vertical(vertical, self.vertical_conv, labels)
        horizontal_out, skip = self.horizontal(
            horizontal, vertical_features, self.horizontal_conv, labels
        )
        return [vertical_out, horizontal_out, skip]

    def vertical(self, vertical, conv, labels=None):
        """(pre-gate features for the link, gated output) of the vertical stack; `conv`
        stands in for the masked convolution so that fast sampling can run one row."""
        features = self._condition(conv(vertical), labels)
        return features, gate(features)

    def horizontal(self, horizontal, vertical_features, conv, labels=None):
        """(output, skip) of the horizontal stack; `conv` as in `vertical`."""
        features = conv(horizontal) + ops.cast(self.link(vertical_features), self.compute_dtype)
        gated = gate(self._condition(features, labels))
        residual = self.residual_conv(gated)
        output = horizontal + residual if self.residual else residual
        return output, self.skip_conv(gated)

    def _condition(self, features, labels):
        if self.label_bias is None:
            return features
        return features + label_bias(self.label_bias, labels, features.dtype)

    def compute_output_shape(self, input_shape):
        vertical_shape, horizontal_shape = input_shape
        shape = tuple(horizontal_shape[:-1]) + (self.filters,)
        return [tuple(vertical_shape[:-1]) + (self.filters,), shape, shape]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "mask_type": self.mask_type,
                "color_channels": self.color_channels,
                "num_classes": self.num_classes,
            }
        )
        return config
