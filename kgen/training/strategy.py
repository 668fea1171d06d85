"""Choosing a strategy: a tf.distribute strategy on TensorFlow, a `JaxStrategy` (Keras's
DataParallel) on JAX; and what generic code asks of either (the chief, the devices, the
`auto` settings). TensorFlow and JAX are imported only on their own backend."""

import contextlib
import json
import os
import platform

import keras

from kgen.errors import ConfigError
from kgen.training.jax_distribution import JaxStrategy

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
TASK_TYPES = ("chief", "worker")  # the TF_CONFIG tasks that train under multi-worker


def make_strategy(name="auto", devices=None):
    """The strategy called `name`; `devices` optionally lists the devices for `mirrored`.

    auto: MirroredStrategy over all GPUs when more than one is visible, else one device
    (the GPU if there is one). multi-worker: configured by the TF_CONFIG environment variable.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")
    if keras.backend.backend() == "jax":
        return JaxStrategy(name, devices)
    import tensorflow as tf

    from kgen.training.tf_strategy import MultiWorkerStrategy

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


def fit_scope(strategy):
    """What `fit` runs inside: the JAX distribution's scope, which Keras's JAX trainer reads
    the distribution from; nothing on TensorFlow, whose trainer finds the strategy through
    the model's variables."""
    if isinstance(strategy, JaxStrategy):
        return strategy.scope()
    return contextlib.nullcontext()


def batch_split(strategy):
    """The number of equal parts every batch is split into: JAX's DataParallel gives each
    device (of every process) an equal part, so a batch must be a multiple of it; 1 for a
    tf.distribute strategy, which splits a batch unevenly where it must."""
    if isinstance(strategy, JaxStrategy):
        return strategy.num_replicas_in_sync
    return 1


def check_batch_split(strategy, batch_size, strategy_name):
    """Raise ConfigError, in one line naming the values and the fix, when `batch_size`
    does not split into `batch_split(strategy)` equal parts."""
    parts = batch_split(strategy)
    if batch_size % parts:
        nearest = batch_size // parts * parts or parts
        raise ConfigError(
            f"--batch-size {batch_size} does not split evenly across the {parts} devices "
            f"--strategy {strategy_name} trains on under JAX (each takes an equal part of "
            f"every batch): pass a multiple of {parts}, such as {nearest}."
        )


def is_chief(strategy):
    """Whether this process writes logs, checkpoints and exports (always true off a cluster)."""
    if isinstance(strategy, JaxStrategy):
        return strategy.is_chief()
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
    if isinstance(strategy, JaxStrategy):
        return strategy.worker_values(value)
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return {"this process": value}
    import tensorflow as tf

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
    device type `strategy` trains on, and off for any tf.distribute strategy over several
    devices. Always on under JAX, whose steps run op by op without it (and whose
    DataParallel compiles one program for every device)."""
    if isinstance(strategy, JaxStrategy):
        return True
    import tensorflow as tf

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


def gpu_visible():
    """Whether the running backend sees a GPU."""
    if keras.backend.backend() == "jax":
        return JaxStrategy.accelerator_name() is not None
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_name():
    """The accelerator's name, or the CPU's with its core count."""
    if keras.backend.backend() == "jax":
        return JaxStrategy.accelerator_name() or _cpu_name()
    import tensorflow as tf

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
    if gpu_visible():
        return f"{text}; a GPU is visible, but --strategy chose the CPU"
    if isinstance(strategy, JaxStrategy):
        return f"{text}; JAX sees no GPU (on a CUDA host: pip install 'jax[cuda12]')"
    return f"{text}; TensorFlow sees no GPU (on a CUDA host: pip install 'kgen[gpu]')"


def _device_type(strategy):
    """ "CPU" or "GPU" (or another device type): where `strategy`'s replicas run."""
    if isinstance(strategy, JaxStrategy):
        return strategy.device_type
    import tensorflow as tf

    return tf.DeviceSpec.from_string(strategy.extended.worker_devices[0]).device_type
