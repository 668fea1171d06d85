"""The gated PixelCNN: stacked gated blocks whose skip outputs feed 1x1 output convs."""

import keras
from keras import ops

from kgen.layers import GatedPixelCNNBlock
from kgen.networks.autoregressive_network import AutoregressiveNetwork

_LINK = "link_"  # state entries holding a block's vertical features for the current row


@keras.saving.register_keras_serializable(package="kgen")
class GatedPixelCNNNetwork(AutoregressiveNetwork):
    """Gated PixelCNN of van den Oord et al. (2016, "Conditional Image Generation with
    PixelCNN Decoders"): a type-A gated block with an `input_kernel_size` kernel reads the
    image, `num_blocks - 1` type-B gated blocks follow, and the last horizontal stack plus
    the sum of every block's skip output goes through two 1x1 masked convolutions (the last
    horizontal stack is added so that its residual convolution is trained too). No blind
    spot. Arguments are `AutoregressiveNetwork`'s.
    """

    def __init__(self, image_shape, params_per_channel, **kwargs):
        super().__init__(image_shape, params_per_channel, **kwargs)
        self.blocks = [
            GatedPixelCNNBlock(
                self.filters,
                self.input_kernel_size if index == 0 else self.kernel_size,
                "A" if index == 0 else "B",
                self.color_channels,
                self.num_classes,
                name=f"block_{index}",
            )
            for index in range(self.num_blocks)
        ]
        self.build((None,) + self.image_shape)

    def build(self, input_shape):
        features_shape = tuple(input_shape[:-1]) + (self.filters,)
        for index, block in enumerate(self.blocks):
            shape = input_shape if index == 0 else features_shape
            block.build([shape, shape])
        self.build_head(features_shape)

    def call(self, images, labels=None):
        vertical = horizontal = images
        skips = None
        for block in self.blocks:
            vertical, horizontal, skip = block([vertical, horizontal], labels=labels)
            skips = skip if skips is None else skips + skip
        return self.head(horizontal + skips)

    # --- One pixel at a time: the vertical stack a row at a time, the horizontal per pixel ---

    def sampling_state(self, batch):
        dtype = self.compute_dtype
        first = self.blocks[0].vertical_conv
        # The drawn image stays float32 (the convolutions cast it), so `drawn_row` is exact.
        state = {
            "image": self.rows.empty(batch, first.rows_above + 1, self.color_channels, "float32")
        }
        for index, block in enumerate(self.blocks):
            if index > 0:
                state[f"vertical_{index}"] = self.rows.empty(
                    batch, block.vertical_conv.rows_above + 1, self.filters, dtype
                )
                state[f"horizontal_{index}"] = self.rows.empty(batch, 1, self.filters, dtype)
            state[f"{_LINK}{index}"] = ops.zeros(
                (batch, 1, self.image_shape[1], 2 * self.filters), dtype=dtype
            )
        return state

    def begin_row(self, state, labels=None):
        """Advance the buffers and run the vertical stack over the whole new row: it reads
        only rows above, which are all drawn by now."""
        state = {
            name: value if name.startswith(_LINK) else self.rows.advance(value)
            for name, value in state.items()
        }
        vertical = None
        for index, block in enumerate(self.blocks):
            source = "image" if index == 0 else f"vertical_{index}"

            def row_conv(inputs, block=block, source=source):
                if inputs is not None:
                    state[source] = self.rows.write_row(state[source], inputs)
                return block.vertical_conv.convolve_causal_rows(
                    self.rows.row_window(state[source], block.vertical_conv)
                )

            state[f"{_LINK}{index}"], vertical = block.vertical(vertical, row_conv, labels)
        return state

    def params_at(self, state, col, labels=None):
        state = dict(state)
        horizontal = skips = None
        for index, block in enumerate(self.blocks):
            source = "image" if index == 0 else f"horizontal_{index}"

            def pixel_conv(inputs, block=block, source=source):
                if inputs is not None:
                    state[source] = self.rows.write_pixel(state[source], col, inputs)
                return block.horizontal_conv.convolve_causal_rows(
                    self.rows.pixel_window(state[source], block.horizontal_conv, col)
                )

            link = state[f"{_LINK}{index}"]
            link = ops.slice(link, [0, 0, col, 0], [ops.shape(link)[0], 1, 1, link.shape[-1]])
            horizontal, skip = block.horizontal(horizontal, link, pixel_conv, labels)
            skips = skip if skips is None else skips + skip
        return state, self.head(horizontal + skips)[:, 0, 0, :]
