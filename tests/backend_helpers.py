"""Test helpers that work under every Keras backend (KERAS_BACKEND): the tests marked
`backends` run under TensorFlow in the main suite and under JAX in a process of their own
(tests/test_backends.py)."""

import keras
import numpy as np


def input_gradient(function, inputs):
    """d function(inputs) / d inputs, for a scalar-valued `function` of a float32 array,
    by the running backend's own autodiff; a NumPy array."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(function)(inputs))
    import tensorflow as tf

    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = function(inputs)
    return tape.gradient(value, inputs).numpy()


def compiled(function):
    """`function` compiled by the running backend's XLA: jax.jit, or tf.function with
    jit_compile=True."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=True)
