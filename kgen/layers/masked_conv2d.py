"""A 2D convolution whose kernel only sees pixels that come earlier in raster order."""

import keras
import numpy as np
from keras import ops

MASK_TYPES = ("A", "B")
STACKS = ("full", "vertical", "horizontal")


def channel_groups(num_features, color_channels):
    """The colour each feature belongs to: feature i serves colour i % color_channels.

    Assigning colours by index modulo keeps a parameter-major output layout (all R, G, B
    values of parameter 0, then of parameter 1, ...) and keeps the two halves of a gated
    unit in step whenever the half width is a multiple of the colour count.
    """
    return np.arange(num_features) % color_channels


def causal_mask(kernel_shape, mask_type, stack="full", color_channels=1):
    """The 0/1 mask of a (kh, kw, in, out) kernel, as `MaskedConv2D` describes it."""
    kh, kw, in_features, out_features = kernel_shape
    centre_row, centre_col = kh // 2, kw // 2
    mask = np.zeros(kernel_shape, dtype="float32")
    mask[:centre_row] = 1.0  # every row above the centre
    if stack == "vertical":
        # Vertical features at row i only ever hold information from rows above i, so a
        # later layer (type B) may read its whole centre row, every colour included.
        if mask_type == "B":
            mask[centre_row] = 1.0
        return mask
    mask[centre_row, :centre_col] = 1.0  # left of the centre on its row
    in_colour = channel_groups(in_features, color_channels)[:, None]
    out_colour = channel_groups(out_features, color_channels)[None, :]
    # Within the centre pixel R precedes G precedes B: type A sees earlier colours only,
    # type B also its own colour (whose features are already causal).
    allowed = in_colour < out_colour if mask_type == "A" else in_colour <= out_colour
    mask[centre_row, centre_col] = allowed.astype("float32")
    return mask


@keras.saving.register_keras_serializable(package="kgen")
class MaskedConv2D(keras.layers.Layer):
    """Convolution with a causal mask, the building block of PixelCNN.

    Output pixel (i, j) depends on input pixels before (i, j) in raster order (rows above,
    then columns to the left); the centre pixel itself is excluded by mask type "A" (the
    first layer, which sees the image) and included by type "B" (later layers). With
    `color_channels=3` the centre pixel is split by colour, so that the output for R sees
    no colour of the current pixel, G sees R, and B sees R and G (type A), or each colour
    also sees its own (type B). Features belong to colour `index % color_channels`, so
    `filters` and the input width must be multiples of `color_channels`.

    Args:
        filters: number of output features.
        kernel_size: odd int, the kernel's width (and height, except for "horizontal").
        mask_type: "A" (excludes the centre) or "B" (includes it).
        stack: "full" (the raster-order mask of the original PixelCNN), "vertical" (rows
            above only, for the vertical stack of the gated PixelCNN; type B adds the whole
            centre row) or "horizontal" (a 1 x kernel_size kernel over the current row).
        color_channels: 1, or 3 for RGB ordering inside a pixel.
        use_bias: whether to add a bias.
        kernel_initializer, bias_initializer: as in `keras.layers.Conv2D`.
    """

    def __init__(
        self,
        filters,
        kernel_size,
        mask_type="B",
        stack="full",
        color_channels=1,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"`filters` must be a positive int. Received: filters={filters!r}")
        if not isinstance(kernel_size, int) or kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(
                f"`kernel_size` must be a positive odd int (the mask needs a centre). "
                f"Received: kernel_size={kernel_size!r}"
            )
        if mask_type not in MASK_TYPES:
            raise ValueError(
                f"`mask_type` must be one of {MASK_TYPES}. Received: mask_type={mask_type!r}"
            )
        if stack not in STACKS:
            raise ValueError(f"`stack` must be one of {STACKS}. Received: stack={stack!r}")
        if not isinstance(color_channels, int) or color_channels <= 0:
            raise ValueError(
                "`color_channels` must be a positive int. "
                f"Received: color_channels={color_channels!r}"
            )
        if filters % color_channels:
            raise ValueError(
                f"`filters` must be a multiple of `color_channels` so that every colour gets "
                f"the same number of features. Received: filters={filters}, "
                f"color_channels={color_channels}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.mask_type = mask_type
        self.stack = stack
        self.color_channels = color_channels
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @property
    def kernel_shape_2d(self):
        """(height, width) of the kernel."""
        if self.stack == "horizontal":
            return (1, self.kernel_size)
        return (self.kernel_size, self.kernel_size)

    @property
    def rows_above(self):
        """How many rows above the centre the kernel reaches."""
        return self.kernel_shape_2d[0] // 2

    @property
    def half_width(self):
        """How many columns either side of the centre the kernel reaches."""
        return self.kernel_size // 2

    def build(self, input_shape):
        in_features = input_shape[-1]
        if in_features % self.color_channels:
            raise ValueError(
                f"The input of a MaskedConv2D with color_channels={self.color_channels} needs a "
                f"multiple of {self.color_channels} features. Received: {in_features}"
            )
        shape = self.kernel_shape_2d + (in_features, self.filters)
        self.kernel = self.add_weight(
            name="kernel", shape=shape, initializer=self.kernel_initializer
        )
        self.bias = (
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer)
            if self.use_bias
            else None
        )
        self.mask = causal_mask(shape, self.mask_type, self.stack, self.color_channels)

    def masked_kernel(self):
        return self.kernel * ops.convert_to_tensor(self.mask, dtype=self.kernel.dtype)

    def call(self, inputs):
        return self._convolve(inputs, self.masked_kernel(), "same")

    def convolve_causal_rows(self, rows):
        """Valid convolution of a window holding only the rows at and above the centre.

        `rows` is [batch, rows_above + 1, width + 2 * half_width, features]: the rows the
        kernel reaches, padded with zeros left and right as "same" padding would be. The
        kernel's rows below the centre are all masked out, so the result equals `call`'s
        output for the window's last row, [batch, 1, width, filters]. Fast sampling uses it
        to compute one pixel or one row without the rest of the image.
        """
        kernel = self.masked_kernel()[: self.rows_above + 1]
        return self._convolve(rows, kernel, "valid")

    def _convolve(self, inputs, kernel, padding):
        kernel = ops.cast(kernel, self.compute_dtype)
        inputs = ops.cast(inputs, self.compute_dtype)
        kernel_rows, kernel_cols = kernel.shape[:2]
        if kernel_rows == kernel_cols == 1:
            # A 1x1 convolution is a matrix product over features, and a cheaper op.
            outputs = ops.matmul(inputs, kernel[0, 0])
        elif padding == "valid" and tuple(inputs.shape[1:3]) == (kernel_rows, kernel_cols):
            # One output pixel (fast sampling): the window times the kernel, flattened.
            flat_inputs = ops.reshape(inputs, (ops.shape(inputs)[0], 1, 1, -1))
            outputs = ops.matmul(flat_inputs, ops.reshape(kernel, (-1, self.filters)))
        else:
            outputs = ops.conv(inputs, kernel, padding=padding)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "mask_type": self.mask_type,
                "stack": self.stack,
                "color_channels": self.color_channels,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
