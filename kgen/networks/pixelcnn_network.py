"""The original PixelCNN: a 7x7 type-A convolution, masked residual blocks, 1x1 output convs."""

import keras

from kgen.layers import MaskedConv2D
from kgen.layers import MaskedResidualBlock
from kgen.networks.autoregressive_network import AutoregressiveNetwork


@keras.saving.register_keras_serializable(package="kgen")
class PixelCNNNetwork(AutoregressiveNetwork):
    """PixelCNN of van den Oord et al. (2016, "Pixel Recurrent Neural Networks"), section 3.5.

    A type-A masked convolution reads the image, `num_blocks` residual blocks of type-B
    masked convolutions follow, and two 1x1 masked convolutions give the parameters. It has
    the blind spot the gated variant removes. Arguments are `AutoregressiveNetwork`'s.
    """

    def __init__(self, image_shape, params_per_channel, **kwargs):
        super().__init__(image_shape, params_per_channel, **kwargs)
        colors = self.color_channels
        self.input_conv = MaskedConv2D(
            self.filters, self.input_kernel_size, "A", color_channels=colors, name="input_conv"
        )
        self.blocks = [
            MaskedResidualBlock(
                self.filters, self.kernel_size, colors, self.num_classes, name=f"block_{index}"
            )
            for index in range(self.num_blocks)
        ]
        self.build((None,) + self.image_shape)

    def build(self, input_shape):
        features_shape = tuple(input_shape[:-1]) + (self.filters,)
        self.input_conv.build(input_shape)
        for block in self.blocks:
            block.build(features_shape)
        self.build_head(features_shape)

    def call(self, images, labels=None):
        features = self.input_conv(images)
        for block in self.blocks:
            features = block(features, labels=labels)
        return self.head(features)

    # --- One pixel at a time ---

    def sampling_state(self, batch):
        dtype = self.compute_dtype
        # The drawn image stays float32 (the convolutions cast it), so `drawn_row` is exact.
        rows = self.input_conv.rows_above + 1
        state = {"image": self.rows.empty(batch, rows, self.color_channels, "float32")}
        for index, block in enumerate(self.blocks):
            state[f"block_{index}"] = self.rows.empty(
                batch, block.conv.rows_above + 1, self.filters // 2, dtype
            )
        return state

    def begin_row(self, state, labels=None):
        return {name: self.rows.advance(buffer) for name, buffer in state.items()}

    def params_at(self, state, col, labels=None):
        state = dict(state)
        window = self.rows.pixel_window(state["image"], self.input_conv, col)
        features = self.input_conv.convolve_causal_rows(window)
        for index, block in enumerate(self.blocks):
            name = f"block_{index}"

            def spatial_conv(hidden, block=block, name=name):
                state[name] = self.rows.write_pixel(state[name], col, hidden)
                return block.conv.convolve_causal_rows(
                    self.rows.pixel_window(state[name], block.conv, col)
                )

            features = block.forward(features, spatial_conv, labels)
        return state, self.head(features)[:, 0, 0, :]
