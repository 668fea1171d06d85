"""Checkpoints of the whole training state, and the callback that writes them.

The state is every variable of the model (weights, the random generators' states) and of
its optimizers, each stored under its attribute path from the model (see
`kgen.training.variable_paths`), and the global step; the epoch and the place in the data
stream follow from the step. A checkpoint that does not match the model is refused with
the variables that are missing or extra, never loaded by position.
"""

import math
import shutil
import tempfile

import keras

from kgen.errors import CheckpointMismatch
from kgen.training.checkpoint_formats import checkpoint_store
from kgen.training.checkpoint_formats import refuse_other_backends_checkpoints
from kgen.training.checkpoint_formats import stored_variables
from kgen.training.variable_paths import variables_by_path


class TrainingState:
    """The global step and the run's checkpoints of everything a resumed run needs.

    Under TensorFlow the checkpoints are `tf.train.Checkpoint`s; under JAX, whose arrays
    those cannot hold, `.npz` files (`kgen.training.checkpoint_formats`). Both key every
    variable by its attribute path, so they hold the same state; a run resumes on the
    backend it started on, and a checkpoint of the other backend's format is refused with
    a message that names the backend to use.

    Args:
        model: a compiled model; its optimizers are found through the model.
        directory: where checkpoints go. Non-chief workers of a cluster must still take part
            in saving (it is collective) but write to a throw-away folder.
        max_to_keep: how many recent checkpoints to keep.
        restore_from: read checkpoints from here instead of `directory` (a non-chief worker
            resuming from the chief's folder).
    """

    def __init__(self, model, directory, max_to_keep=3, restore_from=None):
        self.model = model
        self.store = checkpoint_store(directory, max_to_keep)
        self.step = self.store.step
        self.restore_from = restore_from

    def restore(self):
        """Restore the newest checkpoint if there is one; return the global step."""
        latest = self._latest()
        if latest:
            self.model.build_optimizer_state()
            self._restore(latest, variables_by_path(self.model), partial=False)
        return int(self.step.numpy())

    def latest_step(self):
        """The global step of the newest checkpoint (0 if none), read without restoring it."""
        latest = self._latest()
        return self.store.read_step(latest) if latest else 0

    def restore_weights(self):
        """Restore the model's own variables only (for export and evaluation: the optimizers'
        slots need not exist); returns the checkpoint's path, or None when there is none."""
        latest = self._latest()
        if not latest:
            return None
        owned = {id(variable) for variable in self.model.variables}
        paths = {path: v for path, v in variables_by_path(self.model).items() if id(v) in owned}
        self._restore(latest, paths, partial=True)
        return latest

    def _restore(self, checkpoint_path, paths, partial):
        check_checkpoint_matches(checkpoint_path, paths, allow_extra=partial)
        self.store.restore(checkpoint_path, paths, partial)

    def _latest(self):
        directory = self.restore_from or self.store.directory
        latest = self.store.latest(directory)
        if not latest:
            refuse_other_backends_checkpoints(directory)
        return latest

    def save(self):
        # Mid-epoch, Keras's JAX trainer holds the state outside the variables (Keras's
        # callbacks sync it through `Callback.model`; this state holds the model itself).
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()
        return self.store.save(variables_by_path(self.model))


def check_checkpoint_matches(checkpoint_path, paths, allow_extra=False):
    """Raise CheckpointMismatch unless the checkpoint holds a value of the right shape for
    every variable in `paths` (and, unless `allow_extra`, nothing else)."""
    stored = stored_variables(checkpoint_path)
    if not stored:
        raise CheckpointMismatch(
            f"The checkpoint {checkpoint_path} holds no variables by path: it was written by an "
            "older kgen, which stored them by position. Train a new run (--fresh) with this "
            "version."
        )
    missing = sorted(set(paths) - set(stored))
    extra = [] if allow_extra else sorted(set(stored) - set(paths))
    reshaped = sorted(
        path for path in set(paths) & set(stored) if tuple(paths[path].shape) != stored[path]
    )
    if missing or extra or reshaped:
        problems = []
        for what, names in (
            ("missing from the checkpoint", missing),
            ("in the checkpoint but not in the model", extra),
            ("of another shape in the checkpoint", reshaped),
        ):
            if names:
                shown = ", ".join(names[:5]) + (
                    f" and {len(names) - 5} more" if len(names) > 5 else ""
                )
                problems.append(f"{what}: {shown}")
        raise CheckpointMismatch(
            f"The checkpoint {checkpoint_path} does not match the model ({'; '.join(problems)}). "
            "It was written for other model settings: pass those, or start a new run with --fresh."
        )


class CheckpointCallback(keras.callbacks.Callback):
    """Counts steps, saves every `every` steps and at each epoch's end, and stops training on
    a NaN or infinite logged value without saving, so the last good checkpoint is the newest.

    Keras calls the batch callbacks once per execution of `model.steps_per_execution` train
    steps, from `batch` to `batch + steps_per_execution - 1` of the epoch, and a training
    stream never runs out, so every execution runs all of them. The step advances by that
    many as an execution begins, so every callback's `on_train_batch_end` reads the number
    of the last step taken, wherever this callback sits in the list.

    The step is counted here, not read from `optimizer.iterations`: under mixed float16,
    Keras's LossScaleOptimizer does not advance `iterations` on the steps it skips, so it
    would fall behind the place in the data stream, which a resumed run skips to by step.

    A step whose gradients were not finite was not applied and logs NaN (see `minimize` in
    `kgen.models.tensorflow_steps` and `jax_steps`), so it stops the run here too. The logs
    of an execution are its last step's, but the metrics are running means over the epoch, which
    stay NaN once a step of it was, so a NaN anywhere in the execution shows at its end.
    """

    def __init__(self, state, every=0):
        super().__init__()
        self.state = state
        self.every = every
        self.diverged_at = None  # the last step of the execution that went non-finite
        self.diverged_from = None  # and its first
        self._saved_step = None
        self._first_step = None

    def on_train_batch_begin(self, batch, logs=None):
        self._first_step = int(self.state.step.numpy()) + 1
        self.state.step.assign_add(self.model.steps_per_execution)

    def on_train_batch_end(self, batch, logs=None):
        # Every logged value, not just a "loss": adversarial models log d_loss and g_loss.
        if not all(math.isfinite(float(value)) for value in (logs or {}).values()):
            self.diverged_at = int(self.state.step.numpy())
            self.diverged_from = self._first_step
            self.model.stop_training = True
            return
        if self.every and int(self.state.step.numpy()) % self.every == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged_at is None:
            self._save()

    @property
    def divergence(self):
        """Where the run went non-finite, as a message says it: "at step 7", or "in steps 5
        to 8" when one execution ran several (the exact step is not known); None if it did
        not."""
        if self.diverged_at is None:
            return None
        if self.diverged_from == self.diverged_at:
            return f"at step {self.diverged_at}"
        return (
            f"in steps {self.diverged_from} to {self.diverged_at} (one execution of "
            f"--steps-per-execution {self.diverged_at - self.diverged_from + 1})"
        )

    def _save(self):
        step = int(self.state.step.numpy())
        if step != self._saved_step:
            self.state.save()
            self._saved_step = step


def scratch_directory():
    """A temporary folder for a non-chief worker's checkpoints; removed at interpreter exit."""
    import atexit

    path = tempfile.mkdtemp(prefix="kgen-worker-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path
