"""The running Keras backend's step primitives: the one place that chooses."""

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


def backend_train_step(model, step, *args):
    """A model's `train_step(*args)`: run `step(model, data)` (one of
    `kgen.models.training_steps`) as the backend's trainer calls it, with `(data)` on
    TensorFlow and `(state, data)` -> (logs, new state) on JAX."""
    return backend_steps().train_step(model, step, *args)


def backend_test_step(model, step, *args):
    """A model's `test_step(*args)`, as `backend_train_step` (no optimizer state on JAX)."""
    return backend_steps().test_step(model, step, *args)
