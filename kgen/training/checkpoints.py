"""Checkpoints of the whole training state, and the callback that writes them.

The state is the model's variables (weights and the random generators' states, which
tf.train.Checkpoint would not find by itself), every optimizer the model tracks, and the
global step; the epoch and the place in the data stream follow from the step.
"""

import math
import shutil
import tempfile

import keras
import tensorflow as tf

CHECKPOINT_PREFIX = "ckpt"


class TrainingState:
    """The global step and a CheckpointManager over everything a resumed run needs.

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
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            model=model, model_variables=list(model.variables), step=self.step
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep, checkpoint_name=CHECKPOINT_PREFIX
        )
        self.restore_from = restore_from

    def restore(self):
        """Restore the newest checkpoint if there is one; return the global step."""
        latest = self._latest()
        if latest:
            self.model.build_optimizer_state()
            self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def latest_step(self):
        """The global step of the newest checkpoint (0 if none), read without restoring it."""
        latest = self._latest()
        return int(tf.train.load_variable(latest, "step/.ATTRIBUTES/VARIABLE_VALUE")) if latest else 0

    def restore_weights(self):
        """Restore model weights only (for export); optimizer slots may be absent."""
        latest = self._latest()
        if not latest:
            return None
        self.checkpoint.restore(latest).expect_partial()
        return latest

    def _latest(self):
        if self.restore_from:
            return tf.train.latest_checkpoint(self.restore_from)
        return self.manager.latest_checkpoint

    def save(self):
        return self.manager.save(checkpoint_number=self.step)


class CheckpointCallback(keras.callbacks.Callback):
    """Counts steps, saves every `every` steps and at each epoch's end, and stops training on
    a NaN or infinite loss without saving it, so the last good checkpoint is the newest."""

    def __init__(self, state, every=0):
        super().__init__()
        self.state = state
        self.every = every
        self.diverged_at = None
        self._saved_step = None

    def on_train_batch_end(self, batch, logs=None):
        self.state.step.assign_add(1)
        # Every logged value, not just a "loss": adversarial models log d_loss and g_loss.
        if not all(math.isfinite(float(value)) for value in (logs or {}).values()):
            self.diverged_at = int(self.state.step.numpy())
            self.model.stop_training = True
            return
        if self.every and int(self.state.step.numpy()) % self.every == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self.diverged_at is None:
            self._save()

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
