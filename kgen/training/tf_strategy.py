"""The one fix kgen needs for multi-worker `fit` on TensorFlow (imported only there)."""

import tensorflow as tf

from kgen.errors import ConfigError
from kgen.keras_support import unsupported_keras


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` takes what Keras 3.15's `fit` hands it.

    Two calls in keras/src/backend/tensorflow/trainer.py fail on the stock strategy:
    - `reduce_per_replica` reduces each step's metrics with `reduce("MEAN", v, axis=0)`; a
      scalar metric has no axis 0. Reducing a scalar across replicas is what `axis=None`
      means, so rank-0 values drop the axis.
    - `_symbolic_build` reduces a whole batch (a dict of per-replica tensors) in one call;
      the multi-worker `reduce` takes one value. Nested structures are reduced leaf by leaf.
    Every other call goes through untouched.

    Those calls are Keras internals, so on a Keras version the fix was not checked on it
    refuses to start (ConfigError) rather than risk a wrong reduction; the check comes
    before the parent's constructor, which starts TensorFlow's collective ops.
    """

    def __init__(self, *args, **kwargs):
        problem = unsupported_keras("--strategy multi-worker")
        if problem:
            raise ConfigError(problem)
        super().__init__(*args, **kwargs)

    def reduce(self, reduce_op, value, axis=None):
        if isinstance(value, (dict, list, tuple)):
            return tf.nest.map_structure(lambda leaf: self.reduce(reduce_op, leaf, axis), value)
        if axis is not None and _is_scalar(value):
            axis = None
        return super().reduce(reduce_op, value, axis=axis)


def _is_scalar(value):
    per_replica = getattr(value, "values", None)
    first = per_replica[0] if isinstance(per_replica, tuple) and per_replica else value
    shape = getattr(first, "shape", None)
    return shape is not None and shape.rank == 0
