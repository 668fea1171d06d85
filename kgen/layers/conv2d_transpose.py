"""Keras's Conv2DTranspose, computed on JAX as one ordinary convolution (sub-pixel form).

A stride-s transposed convolution is an ordinary convolution over the input whose s x s
output pixels per input pixel come out as channels, rearranged into space (depth to
space): output pixel s*m + a (per axis) takes the kernel taps t with (a + t - pad) % s == 0
at input pixel m + (a + t - pad) // s. XLA computes the transposed form as a convolution
over the input dilated with zeros, whose gradient XLA's CPU backend computes several times
slower than an ordinary convolution's; the sub-pixel form is ordinary convolutions in both
directions, and took the VAE's train step on JAX from 181 to 402 images/s on kgen's CI CPU
(docs/performance.md). TensorFlow's own kernel (oneDNN on a CPU) is kept there.
"""

import keras
import numpy as np
from keras import ops

try:  # the padding Keras's JAX backend gives `jax.lax.conv_transpose`, for equal outputs
    from keras.src.backend.common.backend_utils import compute_conv_transpose_padding_args_for_jax
except ImportError:  # another Keras: the layer computes as Keras's does
    compute_conv_transpose_padding_args_for_jax = None


@keras.saving.register_keras_serializable(package="kgen")
class Conv2DTranspose(keras.layers.Conv2DTranspose):
    """`keras.layers.Conv2DTranspose` with the same weights, config and outputs; under JAX,
    for "same" padding without output padding or dilation in channels-last layout, computed
    as one ordinary convolution and a depth-to-space rearrangement. The class keeps Keras's
    name, so layer names and checkpoint paths are those of the Keras layer."""

    def build(self, input_shape):
        super().build(input_shape)
        # Which kernel tap feeds which output parity depends on the kernel size, strides and
        # padding only: worked out once here, not at every call.
        self._subpixel_axes = None
        if self._computes_as_subpixel():
            padding = compute_conv_transpose_padding_args_for_jax(
                input_shape, (*self.kernel_size, self.filters, input_shape[-1]),
                self.strides, "same", None, 1,
            )  # fmt: skip
            self._subpixel_axes = tuple(
                _axis_plan(size, stride, pad_left)
                for size, stride, (pad_left, _) in zip(self.kernel_size, self.strides, padding)
            )

    def call(self, inputs):
        if getattr(self, "_subpixel_axes", None) is None:
            return super().call(inputs)
        outputs = self._subpixel(inputs)
        if self.use_bias:
            outputs = ops.add(outputs, ops.reshape(self.bias, (1, 1, 1, self.filters)))
        return self.activation(outputs) if self.activation is not None else outputs

    def _computes_as_subpixel(self):
        return (
            keras.backend.backend() == "jax"
            and compute_conv_transpose_padding_args_for_jax is not None
            and self.padding == "same"
            and self.output_padding is None
            and tuple(self.dilation_rate) == (1, 1)
            and self.data_format == "channels_last"
        )

    def _subpixel(self, inputs):
        height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
        (rows, pad_rows), (columns, pad_columns) = self._subpixel_axes
        # The sub-pixel kernel [x, y, in, a, b, out]: for window position (x, y) and output
        # parity (a, b), the tap (p, q) that rows[x, a, p] * columns[y, b, q] selects.
        # Keras's transposed kernel is (kh, kw, filters, in).
        kernel = ops.einsum("xap,ybq,pqoi->xyiabo", rows, columns, self.kernel)
        window_h, window_w = rows.shape[0], columns.shape[0]
        kernel = ops.reshape(kernel, (window_h, window_w, inputs.shape[-1], -1))
        padded = _pad_or_crop(inputs, pad_rows, pad_columns)
        outputs = ops.conv(padded, kernel, strides=1, padding="valid")
        stride_h, stride_w = self.strides
        outputs = ops.reshape(outputs, (-1, height, width, stride_h, stride_w, self.filters))
        outputs = ops.transpose(outputs, (0, 1, 3, 2, 4, 5))
        return ops.reshape(outputs, (-1, height * stride_h, width * stride_w, self.filters))


def _pad_or_crop(inputs, rows, columns):
    """`inputs` [N, H, W, C] padded with zeros by (before, after) rows and columns, a
    negative amount cropping instead."""
    inputs = ops.pad(inputs, ((0, 0), _positive(rows), _positive(columns), (0, 0)))
    height, width = inputs.shape[1], inputs.shape[2]
    top, bottom = (max(0, -amount) for amount in rows)
    left, right = (max(0, -amount) for amount in columns)
    return inputs[:, top : height - bottom, left : width - right, :]


def _positive(amounts):
    return tuple(max(0, amount) for amount in amounts)


def _axis_plan(kernel_size, stride, pad_left):
    """For one axis: the selection [window position, output parity, kernel index] (1 where
    output parity a takes kernel index p at window position x), and the input's padding
    (before, after; negative: crop).

    Output pixel s*m + a of the transposed convolution sums K[k - 1 - t] * x[m + d] over
    the taps t with (a + t - pad_left) % s == 0, d = (a + t - pad_left) // s.
    """
    taps = [
        (a, t, (a + t - pad_left) // stride)
        for a in range(stride)
        for t in range(kernel_size)
        if (a + t - pad_left) % stride == 0
    ]
    low = min(d for _, _, d in taps)
    high = max(d for _, _, d in taps)
    selection = np.zeros((high - low + 1, stride, kernel_size), "float32")
    for a, t, d in taps:
        selection[d - low, a, kernel_size - 1 - t] = 1.0
    return selection, (-low, high)
