"""A model's function traced once and called many times, on either backend: what sampling
(`ImageSampler`, TensorBoard's grids) runs through."""

import keras


def compiled_model_function(model, function, jit_compile, static_argnums=()):
    """`function(*args)`, which reads `model`'s variables, as a traced function (under XLA
    when `jit_compile`) that sees the variables' current values at every call.

    TensorFlow: a `tf.function`, which reads its variables when it runs. JAX: `jax.jit`
    would bake the values of the first call into the trace, so the variables' values are
    passed in as an argument and mapped onto them in a `keras.StatelessScope`; the
    arguments at `static_argnums` (sizes, which set shapes) are compile-time constants.
    Without `jit_compile` on JAX the function runs op by op.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=jit_compile)
    if not jit_compile:
        return function
    import jax

    variables = model.variables

    def stateless(values, *args):
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            return function(*args)

    traced = jax.jit(stateless, static_argnums=tuple(index + 1 for index in static_argnums))

    def call(*args):
        return traced([variable.value for variable in variables], *args)

    return call
