"""Choosing a tf.distribute strategy, and the one fix kgen needs for multi-worker `fit`."""

import json
import os

import tensorflow as tf

from kgen.errors import ConfigError

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")


class MultiWorkerStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """MultiWorkerMirroredStrategy whose `reduce` accepts scalar per-replica values.

    Keras 3.15 `fit` reduces each step's metrics with `strategy.reduce("MEAN", v, axis=0)`
    when the strategy is multi-worker (keras/src/backend/tensorflow/trainer.py,
    `reduce_per_replica`). A scalar has no axis 0, so every model returning scalar metrics
    fails. Reducing a scalar across replicas is what `axis=None` means, so we drop the axis
    for rank-0 values and leave every other call untouched.
    """

    def reduce(self, reduce_op, value, axis=None):
        if axis is not None and _is_scalar(value):
            axis = None
        return super().reduce(reduce_op, value, axis=axis)


def _is_scalar(value):
    per_replica = getattr(value, "values", None)
    first = per_replica[0] if isinstance(per_replica, tuple) and per_replica else value
    shape = getattr(first, "shape", None)
    return shape is not None and shape.rank == 0


def make_strategy(name="auto", devices=None):
    """The strategy called `name`; `devices` optionally lists the devices for `mirrored`.

    auto: MirroredStrategy over all GPUs when more than one is visible, else one device
    (the GPU if there is one). multi-worker: configured by the TF_CONFIG environment variable.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one-device"
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(devices[0] if devices else gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices)
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "--strategy multi-worker needs the TF_CONFIG environment variable (the cluster and "
            "this worker's task); see docs/distributed.md for an example."
        )
    return MultiWorkerStrategy()


def is_chief(strategy):
    """Whether this process writes logs, checkpoints and exports (always true off a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def default_jit_compile(strategy):
    """XLA on when one GPU trains the model, off otherwise.

    Measured: on the 2-core CPU XLA made the conv VAE's train step slower (see `kgen bench
    --jit-compile`), and Keras turns `jit_compile="auto"` off under distribution strategies.
    """
    on_gpu = bool(tf.config.list_logical_devices("GPU"))
    return on_gpu and isinstance(strategy, tf.distribute.OneDeviceStrategy)
