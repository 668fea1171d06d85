"""Row buffers: the little state fast PixelCNN sampling keeps per masked convolution.

A masked convolution's output at (i, j) reads only rows i - r .. i of its input (r rows
above the centre). Drawing pixels in raster order, a sampler therefore needs to keep just
those rows of each convolution's input, not whole feature maps: each buffer is a tensor
[batch, r + 1, width + 2 * pad, features] whose last row is the current one, padded with
zeros left and right exactly as "same" padding pads the full image. Updating one pixel
copies one small buffer instead of a feature map, which is what makes sampling fast.
"""

from keras import ops


class RowBuffers:
    """Functions over row buffers of images `width` pixels wide, padded by `pad` columns."""

    def __init__(self, width, pad):
        self.width = width
        self.pad = pad

    def empty(self, batch, rows, features, dtype):
        """A buffer of zeros holding `rows` rows."""
        return ops.zeros((batch, rows, self.width + 2 * self.pad, features), dtype=dtype)

    def advance(self, buffer):
        """Move to the next row: drop the oldest row, append a row of zeros."""
        return ops.concatenate([buffer[:, 1:], ops.zeros_like(buffer[:, :1])], axis=1)

    def write_pixel(self, buffer, col, values):
        """Put `values` [batch, 1, 1, features] at column `col` of the current row."""
        rows = buffer.shape[1]
        return ops.slice_update(
            buffer, [0, rows - 1, col + self.pad, 0], ops.cast(values, buffer.dtype)
        )

    def write_row(self, buffer, values):
        """Put `values` [batch, 1, width, features] in the current row."""
        rows = buffer.shape[1]
        return ops.slice_update(buffer, [0, rows - 1, self.pad, 0], ops.cast(values, buffer.dtype))

    def current_row(self, buffer):
        """The current row without its padding, [batch, 1, width, features]."""
        return buffer[:, -1:, self.pad : self.pad + self.width]

    def pixel_window(self, buffer, conv, col):
        """The rows and columns `conv` (a MaskedConv2D) reads for output column `col`."""
        rows, half = conv.rows_above + 1, conv.half_width
        shape = [ops.shape(buffer)[0], rows, 2 * half + 1, buffer.shape[-1]]
        return ops.slice(buffer, [0, buffer.shape[1] - rows, col + self.pad - half, 0], shape)

    def row_window(self, buffer, conv):
        """The rows and columns `conv` reads for every output column of the current row."""
        rows, half = conv.rows_above + 1, conv.half_width
        return buffer[:, buffer.shape[1] - rows :, self.pad - half : self.pad + self.width + half]
