"""Where a run's checkpoints are stored, by backend: `tf.train.Checkpoint` on TensorFlow,
`.npz` files on JAX (a `tf.train.Checkpoint` holds TensorFlow variables only, and JAX
arrays are not those). Both hold {attribute path: value} for every variable
(`kgen.training.variable_paths`) and the global step; `TrainingState` is the same over
either. TensorFlow is imported only by the TensorFlow store.
"""

import glob
import os
import re
import tempfile

import keras
import numpy as np

from kgen.errors import CheckpointMismatch

CHECKPOINT_PREFIX = "ckpt"
_VARIABLES = "variables"  # the TF checkpoint's entry holding the {path: variable} dict
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_NPZ_STEP = "__step__"  # the .npz entry holding the global step (no variable path has "__")
_NPZ_NAME = re.compile(rf"{CHECKPOINT_PREFIX}-(\d+)\.npz$")
_NPZ_TEMPORARY_SUFFIX = ".npz.tmp"


def checkpoint_store(directory, max_to_keep=3):
    """The running backend's store of checkpoints in `directory`."""
    if keras.backend.backend() == "tensorflow":
        return TensorFlowCheckpoints(directory, max_to_keep)
    return NpzCheckpoints(directory, max_to_keep)


def stored_variables(checkpoint_path):
    """{path: shape} of the model variables a kgen checkpoint (of either format) holds."""
    if checkpoint_path.endswith(".npz"):
        with np.load(checkpoint_path) as stored:
            return {name: stored[name].shape for name in stored.files if name != _NPZ_STEP}
    import tensorflow as tf

    stored = {}
    prefix = _VARIABLES + "/"
    for name, shape in tf.train.list_variables(checkpoint_path):
        if name.startswith(prefix) and name.endswith(_VALUE_SUFFIX):
            stored[_unescape(name[len(prefix) : -len(_VALUE_SUFFIX)])] = tuple(shape)
    return stored


def _unescape(name):
    """Undo TensorFlow's escaping of checkpoint names ('/' is written '.S', '.' is '..')."""
    return re.sub(r"\.(.)", lambda match: "/" if match.group(1) == "S" else match.group(1), name)


def refuse_other_backends_checkpoints(directory):
    """Raise CheckpointMismatch when `directory` holds checkpoints in the other backend's
    format: resuming there would silently start over."""
    if not directory or not os.path.isdir(directory):
        return
    backend = keras.backend.backend()
    has_npz = bool(_npz_checkpoints(directory))
    has_tf = os.path.exists(os.path.join(directory, "checkpoint"))
    other = "jax" if backend == "tensorflow" and has_npz else None
    other = other or ("tensorflow" if backend != "tensorflow" and has_tf else None)
    if other:
        raise CheckpointMismatch(
            f"The checkpoints in {directory} were written under the {other} backend, and this "
            f"process runs {backend}: resume the run with KERAS_BACKEND={other} (or "
            f"`kgen --backend {other}`), or start a new one with --fresh."
        )


class StepCounter:
    """The global step on a backend without TensorFlow variables: the part of `tf.Variable`
    the callbacks use (`numpy`, `assign`, `assign_add`)."""

    def __init__(self):
        self.value = 0

    def numpy(self):
        return np.int64(self.value)

    def assign(self, value):
        self.value = int(value)

    def assign_add(self, value):
        self.value += int(value)


class TensorFlowCheckpoints:
    """`tf.train.Checkpoint`s through a CheckpointManager, the step a `tf.Variable`."""

    def __init__(self, directory, max_to_keep):
        import tensorflow as tf

        self.directory = directory
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # Filled with the model's {path: variable} before each save and restore: optimizer
        # slots appear only once the optimizers are built.
        self.checkpoint = tf.train.Checkpoint(step=self.step, **{_VARIABLES: {}})
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name=CHECKPOINT_PREFIX
        )

    def latest(self, directory):
        import tensorflow as tf

        if directory == self.directory:
            return self.manager.latest_checkpoint
        return tf.train.latest_checkpoint(directory)

    def read_step(self, checkpoint_path):
        import tensorflow as tf

        return int(tf.train.load_variable(checkpoint_path, "step" + _VALUE_SUFFIX))

    def restore(self, checkpoint_path, paths, partial):
        getattr(self.checkpoint, _VARIABLES).update(paths)
        status = self.checkpoint.restore(checkpoint_path)
        if partial:
            status.expect_partial()
        else:
            status.assert_existing_objects_matched()

    def save(self, paths):
        getattr(self.checkpoint, _VARIABLES).update(paths)
        return self.manager.save(checkpoint_number=self.step)


def _npz_checkpoints(directory):
    """{step: path} of the .npz checkpoints in `directory`."""
    found = {}
    for path in glob.glob(os.path.join(glob.escape(directory), f"{CHECKPOINT_PREFIX}-*.npz")):
        match = _NPZ_NAME.search(os.path.basename(path))
        if match:
            found[int(match.group(1))] = path
    return found


class NpzCheckpoints:
    """One `ckpt-<step>.npz` per checkpoint: {path: value} and the step, written to a
    temporary file and renamed into place, so a checkpoint is whole or absent (a process
    killed while writing leaves a temporary file, which is never read and which the next
    save removes); the newest `max_to_keep` are kept."""

    def __init__(self, directory, max_to_keep):
        self.directory = directory
        self.max_to_keep = max_to_keep
        self.step = StepCounter()

    def latest(self, directory):
        found = _npz_checkpoints(directory) if os.path.isdir(directory) else {}
        return found[max(found)] if found else None

    def read_step(self, checkpoint_path):
        with np.load(checkpoint_path) as stored:
            return int(stored[_NPZ_STEP])

    def restore(self, checkpoint_path, paths, partial):
        with np.load(checkpoint_path) as stored:
            for path, variable in paths.items():
                variable.assign(stored[path])
            self.step.assign(stored[_NPZ_STEP])

    def save(self, paths):
        os.makedirs(self.directory, exist_ok=True)
        step = int(self.step.numpy())
        values = {path: keras.ops.convert_to_numpy(variable) for path, variable in paths.items()}
        values[_NPZ_STEP] = np.int64(step)
        final = os.path.join(self.directory, f"{CHECKPOINT_PREFIX}-{step}.npz")
        handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=_NPZ_TEMPORARY_SUFFIX)
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, **values)
            os.replace(temporary, final)
        except BaseException:
            os.unlink(temporary)
            raise
        found = _npz_checkpoints(self.directory)
        leftovers = glob.glob(
            os.path.join(glob.escape(self.directory), f"*{_NPZ_TEMPORARY_SUFFIX}")
        )
        for old in [found[step] for step in sorted(found)[: -self.max_to_keep]] + leftovers:
            os.unlink(old)
        return final
