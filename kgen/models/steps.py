"""The train and test steps of the running Keras backend: the one place that chooses."""

import keras


def backend_steps():
    """`tensorflow_steps` under TensorFlow, `jax_steps` under JAX (imported on first use, so
    that neither backend needs the other installed)."""
    backend = keras.backend.backend()
    if backend == "jax":
        from kgen.models import jax_steps

        return jax_steps
    if backend == "tensorflow":
        from kgen.models import tensorflow_steps

        return tensorflow_steps
    raise RuntimeError(
        f"kgen trains on the tensorflow and jax Keras backends; KERAS_BACKEND is {backend!r}."
    )
