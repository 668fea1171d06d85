"""kgen's strategies on Keras's JAX backend, through `keras.distribution`.

JAX is imported when a strategy is made, never by importing this module, so that the
TensorFlow backend does not need JAX installed.
"""

import contextlib
import os

from kgen.errors import ConfigError

# What `keras.distribution.initialize()` reads when it is given no arguments.
CLUSTER_VARIABLES = (
    "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "KERAS_DISTRIBUTION_PROCESS_ID",
)


class JaxStrategy:
    """What the driver asks of a tf.distribute strategy, for Keras's JAX backend.

    - one-device: no distribution; JAX's default device (its first GPU if it has one).
    - mirrored: `keras.distribution.DataParallel` over the local devices (or `devices`):
      the weights are replicated, each batch is split across the devices, and the step
      computes on global arrays, so its batch means and batch-norm statistics span every
      device, as TensorFlow's all-reduce makes them.
    - auto: mirrored when JAX sees several accelerators, else one-device (so a CPU split
      into host devices for tests still trains as one device unless told to mirror).
    - multi-worker: `jax.distributed` through `keras.distribution.initialize()`, configured
      by the environment (KERAS_DISTRIBUTION_JOB_ADDRESSES, the coordinator's address
      first; KERAS_DISTRIBUTION_NUM_PROCESSES; KERAS_DISTRIBUTION_PROCESS_ID), then
      DataParallel over every process's devices. Process 0 is the chief.

    Use `scope()` around building the model and around `fit`: Keras's JAX trainer reads the
    distribution from it.
    """

    def __init__(self, name, devices=None):
        import jax
        import keras

        if name == "multi-worker":
            missing = [variable for variable in CLUSTER_VARIABLES if variable not in os.environ]
            if missing:
                raise ConfigError(
                    f"--strategy multi-worker on JAX needs {', '.join(missing)} in the "
                    "environment (the processes' addresses, their number and this one's "
                    "index); see docs/distributed.md for an example."
                )
            keras.distribution.initialize()
        devices = list(devices or jax.devices())
        if name == "auto":
            name = "mirrored" if len(devices) > 1 and devices[0].platform != "cpu" else "one-device"
        if name == "one-device":
            devices = devices[:1]
        self.name = name
        self.devices = devices
        self.distribution = (
            keras.distribution.DataParallel(devices=devices) if len(devices) > 1 else None
        )

    @property
    def num_replicas_in_sync(self):
        """Devices the batch is split across."""
        return len(self.devices)

    def scope(self):
        """The distribution's scope (nothing to enter on one device)."""
        return self.distribution.scope() if self.distribution else contextlib.nullcontext()

    @property
    def device_type(self):
        """ "CPU", "GPU" or "TPU": where the replicas run."""
        return self.devices[0].platform.upper()

    @staticmethod
    def accelerator_name():
        """The first GPU's name (e.g. "2x NVIDIA H100"), or None when JAX sees none."""
        import jax

        try:
            gpus = jax.devices("gpu")
        except RuntimeError:  # no GPU backend in this JAX build
            return None
        return f"{len(gpus)}x {gpus[0].device_kind}" if gpus else None

    @staticmethod
    def is_chief():
        """Whether this process writes the run's outputs: process 0."""
        import jax

        return jax.process_index() == 0

    @staticmethod
    def worker_values(value):
        """An integer from every process, as {"process 0": value, ...} (a collective on a
        cluster; {"this process": value} off one)."""
        import jax

        if jax.process_count() == 1:
            return {"this process": value}
        import numpy as np
        from jax.experimental import multihost_utils

        gathered = multihost_utils.process_allgather(np.asarray([value], np.int64))
        return {f"process {index}": int(got) for index, got in enumerate(gathered.reshape(-1))}
