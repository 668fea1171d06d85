"""Seeds that arrive as tensors, for stateless random draws inside traced functions."""

import keras
from keras import ops

from kgen.keras_support import unsupported_keras

# Public Keras does not expose the seed dtype each backend expects (int64 on TensorFlow,
# uint32 on JAX); the backend module has it. Should a Keras release move it, say which
# versions kgen works with instead of a bare ImportError.
try:
    from keras.src.backend import random_seed_dtype
except ImportError as error:
    raise ImportError(
        unsupported_keras("kgen.random (keras.src.backend.random_seed_dtype)")
        or f"kgen.random needs keras.src.backend.random_seed_dtype, which this Keras lacks: {error}"
    ) from error


class TensorSeed(keras.random.SeedGenerator):
    """A fixed seed held as a tensor, accepted wherever Keras takes a SeedGenerator.

    `keras.random` takes an int (fixed when the function is traced) or a SeedGenerator (a
    variable it advances). An exported `sample(num, seed)` needs neither: the seed is an input
    of the signature, so each call is a pure function of it. Keras draws from
    `SeedGenerator.next()`, so this subclass returns the tensor seed and owns no variable.
    """

    def __init__(self, seed):
        # No super().__init__(): that would create a state variable, which a traced
        # function may not do.
        # The backend's own seed dtype throughout: int64 on TensorFlow; on JAX, uint32, as
        # JAX without x64 has no int64 (and warns when asked for one).
        seed = ops.cast(ops.reshape(seed, ()), random_seed_dtype())
        self._seed = ops.stack([seed, ops.zeros((), random_seed_dtype())])

    def next(self, ordered=True):
        return self._seed


class ReplicaSeed(keras.random.SeedGenerator):
    """A generator's next seed, made distinct for each replica of a distribution strategy.

    Under tf.distribute every replica advances the same (mirrored) generator state and so
    would draw the same noise for its slice of the batch: example i on replica 0 and on
    replica 1 would share eps. Offsetting the counter half of the seed by the replica id
    gives each replica its own stream while all replicas stay in step.
    """

    _REPLICA_STRIDE = 2**32  # far beyond any number of draws a counter makes

    def __init__(self, generator, replica_id):
        self._generator = generator
        self._replica_id = replica_id

    def next(self, ordered=True):
        seed = self._generator.next(ordered)
        offset = ops.cast(self._replica_id, seed.dtype) * self._REPLICA_STRIDE
        return seed + ops.cast(ops.stack([0, 1]), seed.dtype) * offset


def _replica_id():
    """This replica's index when several replicas run in sync, else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context.replica_id_in_sync_group


def sub_seed(seed, index):
    """A distinct seed for a model's `index`-th generator, derived from the model's seed.

    Generators built from one int share their whole state sequence, so two of them (say
    binarization noise and the reparameterization eps) would draw from the same key at
    every step and their noise would be correlated. None stays None (fresh random seeds).
    """
    return None if seed is None else (seed * 1_000_003 + index) % 2**31


def resolve_seed(seed, generator):
    """The seed to hand to `keras.random`.

    None: `generator`, per replica (see ReplicaSeed). An int or a SeedGenerator: as given.
    A tensor (a traced or exported function's input): a stateless `TensorSeed`.
    """
    if seed is None:
        replica = _replica_id()
        return generator if replica is None else ReplicaSeed(generator, replica)
    if isinstance(seed, (int, keras.random.SeedGenerator)):
        return seed
    return TensorSeed(seed)
