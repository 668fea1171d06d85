"""The residual block of the original PixelCNN: 1x1, masked kxk, 1x1, plus the input."""

import keras
from keras import ops

from kgen.layers._conditioning import label_bias
from kgen.layers.masked_conv2d import MaskedConv2D


@keras.saving.register_keras_serializable(package="kgen")
class MaskedResidualBlock(keras.layers.Layer):
    """x + expand(relu(conv(relu(reduce(relu(x)))))), every convolution masked type B.

    As in van den Oord et al. (2016), the block narrows to half its width around the
    spatial convolution. Stacking these after a type-A input layer leaves the known blind
    spot: pixels above and to the right that the receptive field skips.

    Args:
        filters: width of the block's input and output (a multiple of 2 * color_channels).
        kernel_size: odd size of the masked spatial convolution.
        color_channels: 1, or 3 for RGB ordering inside a pixel.
        num_classes: number of labels for class conditioning, or None.
    """

    def __init__(self, filters, kernel_size=3, color_channels=1, num_classes=None, **kwargs):
        super().__init__(**kwargs)
        if filters % (2 * color_channels):
            raise ValueError(
                f"`filters` must be a multiple of 2 * color_channels = {2 * color_channels} (the "
                f"block narrows to half its width). Received: filters={filters}"
            )
        # === Config ===
        self.filters = filters
        self.kernel_size = kernel_size
        self.color_channels = color_channels
        self.num_classes = num_classes
        # === Layers ===
        inner = filters // 2
        self.reduce = MaskedConv2D(inner, 1, "B", color_channels=color_channels, name="reduce")
        self.conv = MaskedConv2D(
            inner, kernel_size, "B", color_channels=color_channels, name="conv"
        )
        self.expand = MaskedConv2D(filters, 1, "B", color_channels=color_channels, name="expand")
        self.label_bias = (
            keras.layers.Embedding(num_classes, inner, name="label_bias") if num_classes else None
        )

    def build(self, input_shape):
        inner_shape = tuple(input_shape[:-1]) + (self.filters // 2,)
        self.reduce.build(input_shape)
        self.conv.build(inner_shape)
        self.expand.build(inner_shape)
        if self.label_bias is not None:
            self.label_bias.build((None,))

    def call(self, inputs, labels=None):
        return self.forward(inputs, self.conv, labels)

    def forward(self, inputs, spatial_conv, labels=None):
        """The block with `spatial_conv` standing in for the masked kxk convolution, so that
        fast sampling can run the same block one pixel at a time."""
        hidden = self.reduce(ops.relu(inputs))
        if self.label_bias is not None:
            hidden = hidden + label_bias(self.label_bias, labels, hidden.dtype)
        hidden = spatial_conv(ops.relu(hidden))
        return inputs + self.expand(ops.relu(hidden))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "color_channels": self.color_channels,
                "num_classes": self.num_classes,
            }
        )
        return config
