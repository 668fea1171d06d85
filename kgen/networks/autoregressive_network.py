"""What both PixelCNN networks share: the output head and the one-pixel-at-a-time protocol."""

import keras
from keras import ops

from kgen.layers import MaskedConv2D
from kgen.networks.row_buffers import RowBuffers


class AutoregressiveNetwork(keras.layers.Layer):
    """Base of the PixelCNN networks: images in, per-pixel distribution parameters out.

    The output for pixel (i, j) and colour c depends only on pixels before (i, j) in raster
    order and on the colours before c at (i, j). Outputs are parameter-major: feature
    k * channels + c is parameter k of colour c.

    Besides the full-image `call`, a network evaluates one pixel at a time for fast
    sampling: `sampling_state(batch)` makes the row buffers, `begin_row` moves them to the
    next row, `params_at` computes one pixel's parameters, `write_pixel` feeds a drawn
    pixel back in and `drawn_row` reads the finished row. Subclasses build their layers and
    implement `sampling_state`, `begin_row`, `params_at` and `call`.

    Args:
        image_shape: (height, width, channels), channels 1 or 3.
        params_per_channel: outputs per colour (1 Bernoulli logit, 256 categorical logits).
        filters: width of the hidden layers.
        num_blocks: number of residual or gated blocks.
        kernel_size: odd kernel size of the blocks' masked convolutions.
        input_kernel_size: odd kernel size of the first, type-A layer.
        num_classes: number of labels for class conditioning, or None.
    """

    def __init__(
        self,
        image_shape,
        params_per_channel,
        filters=64,
        num_blocks=7,
        kernel_size=3,
        input_kernel_size=7,
        num_classes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_shape = tuple(int(d) for d in image_shape)
        if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
            raise ValueError(
                "`image_shape` must be (height, width, 1 or 3). "
                f"Received: image_shape={image_shape}"
            )
        if num_blocks < 1:
            raise ValueError(f"`num_blocks` must be at least 1. Received: num_blocks={num_blocks}")
        # === Config ===
        self.image_shape = image_shape
        self.params_per_channel = params_per_channel
        self.filters = filters
        self.num_blocks = num_blocks
        self.kernel_size = kernel_size
        self.input_kernel_size = input_kernel_size
        self.num_classes = num_classes
        self.color_channels = image_shape[-1]
        self.rows = RowBuffers(image_shape[1], pad=max(kernel_size, input_kernel_size) // 2)
        # === Layers ===
        self.head_hidden = MaskedConv2D(
            filters, 1, "B", color_channels=self.color_channels, name="head_hidden"
        )
        self.head_output = MaskedConv2D(
            params_per_channel * self.color_channels,
            1,
            "B",
            color_channels=self.color_channels,
            name="head_output",
        )

    def build_head(self, features_shape):
        self.head_hidden.build(features_shape)
        self.head_output.build(tuple(features_shape[:-1]) + (self.filters,))

    def head(self, features):
        """Distribution parameters from the last hidden features, in float32."""
        hidden = self.head_hidden(ops.relu(features))
        return ops.cast(self.head_output(ops.relu(hidden)), "float32")

    def write_pixel(self, state, col, values):
        """Feed the pixel just drawn ([batch, channels], network scale) back in."""
        state = dict(state)
        state["image"] = self.rows.write_pixel(state["image"], col, values[:, None, None, :])
        return state

    def drawn_row(self, state):
        """The row just drawn, [batch, 1, width, channels] (network scale), from the state."""
        return self.rows.current_row(state["image"])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.params_per_channel * self.color_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "params_per_channel": self.params_per_channel,
                "filters": self.filters,
                "num_blocks": self.num_blocks,
                "kernel_size": self.kernel_size,
                "input_kernel_size": self.input_kernel_size,
                "num_classes": self.num_classes,
            }
        )
        return config
