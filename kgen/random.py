"""Seeds that arrive as tensors, for stateless random draws inside traced functions."""

import keras
from keras import ops

# Public Keras does not expose the seed dtype each backend expects (int64 on TensorFlow,
# uint32 on JAX); the backend module has it.
from keras.src.backend import random_seed_dtype


class TensorSeed(keras.random.SeedGenerator):
    """A fixed seed held as a tensor, accepted wherever Keras takes a SeedGenerator.

    `keras.random` takes an int (fixed when the function is traced) or a SeedGenerator (a
    variable it advances). An exported `sample(num, seed)` needs neither: the seed is an input
    of the signature, so each call is a pure function of it. Keras draws from
    `SeedGenerator.next()`, so this subclass returns the tensor seed and owns no variable.
    """

    def __init__(self, seed, stream=0):
        # No super().__init__(): that would create a state variable, which a traced
        # function may not do. `stream` separates independent draws made from one seed.
        seed = ops.cast(ops.reshape(seed, ()), "int64")
        self._seed = ops.stack([seed, ops.cast(stream, "int64")])

    def next(self, ordered=True):
        return ops.cast(self._seed, random_seed_dtype())


def resolve_seed(seed, generator):
    """The seed to hand to `keras.random`: the model's generator when `seed` is None, the
    int itself, or a `TensorSeed` for a tensor (a traced or exported function's input)."""
    if seed is None:
        return generator
    if isinstance(seed, (int, keras.random.SeedGenerator)):
        return seed
    return TensorSeed(seed)
