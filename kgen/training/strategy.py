"""Choosing a tf.distribute strategy, and the one fix kgen needs for multi-worker `fit`."""

import json
import os
import platform

import tensorflow as tf

from kgen.errors import ConfigError
from kgen.keras_support import unsupported_keras

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
TASK_TYPES = ("chief", "worker")  # the TF_CONFIG tasks that train under multi-worker


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


def make_strategy(name="auto", devices=None):
    """The strategy called `name`; `devices` optionally lists the devices for `mirrored`.

    auto: MirroredStrategy over all GPUs when more than one is visible, else one device
    (the GPU if there is one). multi-worker: configured by the TF_CONFIG environment variable.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    # Physical, not logical, devices: listing logical ones starts TensorFlow's runtime, after
    # which MultiWorkerMirroredStrategy can no longer configure its collective ops.
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one-device"
    if name == "one-device":
        return tf.distribute.OneDeviceStrategy(
            devices[0] if devices else "/gpu:0" if gpus else "/cpu:0"
        )
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


def worker_values(strategy, value):
    """An integer from every worker of `strategy`'s cluster, as {"worker 0": value, ...}
    (tasks named as TF_CONFIG names them; {"this process": value} off a cluster).

    On a cluster it is a collective: every worker must call it at the same point, with no
    other collective (such as creating variables in the strategy's scope) before it on
    some workers only.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return {"this process": value}
    row = [TASK_TYPES.index(resolver.task_type), resolver.task_id, value]

    # MultiWorkerMirroredStrategy runs its collectives from replica functions inside a
    # tf.function, as Keras's train step does. Each replica adds one row: a worker with
    # several GPUs repeats its own, which the dict folds.
    @tf.function
    def gather():
        return strategy.gather(strategy.run(lambda: tf.constant([row], tf.int64)), axis=0)

    return {f"{TASK_TYPES[kind]} {index}": int(got) for kind, index, got in gather().numpy()}


# Whether `--jit-compile auto` compiles the train step with XLA, by the type of device the
# replicas run on (off for a type not listed), from `kgen bench FAMILY --compare
# jit-compile=off,on` (docs/performance.md). On the 2-core CPU kgen's CI runs on, XLA now
# makes every family's step slower (on/off: VAE 0.52, GAN 0.65, WGAN-GP 0.62, PixelCNN
# 0.79; TensorFlow's own CPU kernels use oneDNN there), where an earlier CPU had it faster
# (1.29, 1.60, 1.54, 1.12): off. On one GPU XLA fuses the many small ops of these models'
# steps; that entry is not measured by kgen yet. Keras itself keeps XLA off under
# distribution strategies, and so does `auto`.
JIT_COMPILE_BY_DEVICE = {"CPU": False, "GPU": True}


def default_jit_compile(strategy):
    """The `--jit-compile auto` setting of the train step: JIT_COMPILE_BY_DEVICE for the
    device type `strategy` trains on, and off for any strategy over several devices."""
    if not isinstance(strategy, tf.distribute.OneDeviceStrategy):
        return False
    return JIT_COMPILE_BY_DEVICE.get(_device_type(strategy), False)


# The train steps one call of the compiled train function runs under `--steps-per-execution
# auto`, by the type of device the replicas run on (1 for a type not listed). Keras runs the
# N steps in one tf.while_loop, saving N - 1 round trips from Python to the device; that pays
# where a step is short next to that round trip, as for small models on a GPU. Neither figure
# is measured yet: GPU's is a first guess, CPU's stays 1 (as before the option existed) until
# `kgen bench --steps-per-execution` says otherwise. `kgen.training.build.
# resolve_steps_per_execution` lowers the target to a divisor of the steps per epoch and of
# the checkpoint and logging intervals.
DEFAULT_STEPS_PER_EXECUTION = {"CPU": 1, "GPU": 32}


def default_steps_per_execution(strategy):
    """The `--steps-per-execution auto` target for the devices `strategy` trains on (see
    DEFAULT_STEPS_PER_EXECUTION)."""
    return DEFAULT_STEPS_PER_EXECUTION.get(_device_type(strategy), 1)


def device_name():
    """The accelerator's name, or the CPU's with its core count."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"{len(gpus)}x {details.get('device_name', 'GPU')}"
    return _cpu_name()


def _cpu_name():
    return (
        f"CPU {_cpu_model() or platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
    )


def _cpu_model():
    """The CPU's model name from /proc/cpuinfo (Linux), e.g. "AMD EPYC"; None elsewhere.
    `platform.processor()` gives only the architecture there ("x86_64")."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


def describe_devices(strategy):
    """Where `strategy` trains, as `kgen fit` and `kgen bench` say before they start: the
    device, the replicas and, on a CPU, why not a GPU, so that a GPU host that trains on
    its CPU (TensorFlow's CPU-only build, or no CUDA libraries) does not go unnoticed."""
    replicas = strategy.num_replicas_in_sync
    on_cpu = _device_type(strategy) == "CPU"
    name = _cpu_name() if on_cpu else device_name()  # not the idle GPU's name
    text = f"{name}, {replicas} replica{'s' if replicas > 1 else ''}"
    if not on_cpu:
        return text
    if tf.config.list_physical_devices("GPU"):
        return f"{text}; a GPU is visible, but --strategy chose the CPU"
    return f"{text}; TensorFlow sees no GPU (on a CUDA host: pip install 'kgen[gpu]')"


def _device_type(strategy):
    """ "CPU" or "GPU" (or another TensorFlow device type): where `strategy`'s replicas run."""
    return tf.DeviceSpec.from_string(strategy.extended.worker_devices[0]).device_type
