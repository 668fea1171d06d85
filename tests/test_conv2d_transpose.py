"""kgen's Conv2DTranspose: under JAX, its sub-pixel form gives Keras's outputs and gradients
for every kernel size and stride (marked `jax_only`: on TensorFlow it is Keras's layer)."""

import jax
import keras
import numpy as np
import pytest
from keras import ops

from kgen.layers import Conv2DTranspose

pytestmark = pytest.mark.jax_only


@pytest.mark.parametrize("kernel, strides", [(4, 2), (3, 2), (1, 2), (4, 3), ((3, 4), (2, 1))])
def test_the_subpixel_form_gives_keras_outputs_and_gradients(kernel, strides):
    layer = Conv2DTranspose(3, kernel, strides=strides, padding="same", activation="relu")
    inputs = np.random.default_rng(0).normal(size=(2, 7, 5, 4)).astype("float32")
    layer.build(inputs.shape)
    layer.bias.assign(np.linspace(-0.5, 0.5, 3).astype("float32"))
    assert layer._computes_as_subpixel() and layer._subpixel_axes is not None  # the path taken

    def outputs(kernel_value, x, native):
        with keras.StatelessScope(state_mapping=[(layer.kernel, kernel_value)]):
            call = keras.layers.Conv2DTranspose.call if native else Conv2DTranspose.call
            return call(layer, x)

    ours, keras_own = (
        outputs(layer.kernel.value, inputs, False),
        outputs(layer.kernel.value, inputs, True),
    )
    assert ours.shape == keras_own.shape == tuple(layer.compute_output_shape(inputs.shape))
    np.testing.assert_allclose(ours, keras_own, rtol=1e-5, atol=1e-5)
    weights = np.random.default_rng(1).normal(size=keras_own.shape).astype("float32")

    def weighted_sum(kernel_value, x, native):
        return ops.sum(outputs(kernel_value, x, native) * weights)

    gradient = jax.grad(weighted_sum, argnums=(0, 1))
    grads = [gradient(layer.kernel.value, inputs, native) for native in (False, True)]
    for ours_grad, keras_grad in zip(*grads):
        np.testing.assert_allclose(ours_grad, keras_grad, rtol=1e-4, atol=1e-4)
