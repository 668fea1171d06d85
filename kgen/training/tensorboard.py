"""TensorBoard logging: step and epoch scalars, image grids and plots each epoch,
hyperparameters.

Steps come from the run's global step, so a resumed run continues its curves instead of
drawing over them. Layout follows Keras's TensorBoard callback: `train/` and `validation/`
writers with `epoch_<metric>` tags, so both curves share one chart.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from kgen.models.compiled import compiled_model_function
from kgen.plots import figure_to_array
from kgen.plots import summary_figures
from kgen.utils.images import image_grid


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class TensorBoardLogger(keras.callbacks.Callback):
    """Writes a run's summaries.

    Args:
        logdir: the run directory.
        state: the `TrainingState` whose step numbers the step scalars.
        log_every: write step scalars every N steps (0: never). Keras calls the batch
            callbacks at the end of each execution of `steps_per_execution` steps, so N must
            be a multiple of that; the logs there are the epoch's running means, the same
            values as when every step is seen.
        summary_batch: (images, labels or None), the fixed batch image grids and plots are
            made from.
        hparams: flat dict of settings, shown in the HParams dashboard.
        jit_compile: draw the image grids under XLA.
    """

    def __init__(
        self, logdir, state, log_every=50, summary_batch=None, hparams=None, jit_compile=False
    ):
        super().__init__()
        self.logdir = logdir
        self.state = state
        self.log_every = log_every
        self.summary_batch = summary_batch
        self.hparams = {k: _hparam_value(v) for k, v in (hparams or {}).items() if v is not None}
        self._writers = {}
        self.jit_compile = jit_compile
        self._image_summaries = None

    def _writer(self, name):
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(os.path.join(self.logdir, name))
        return self._writers[name]

    def on_train_begin(self, logs=None):
        if self.hparams:
            from tensorboard.plugins.hparams import api as hp

            with self._writer("hparams").as_default():
                hp.hparams(self.hparams)

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.state.step.numpy())
        if not self.log_every or step % self.log_every:
            return
        with self._writer("train").as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(f"batch_{name}", float(value))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        with self._writer("train").as_default(step=epoch):
            for name, value in logs.items():
                if not name.startswith("val_"):
                    tf.summary.scalar(f"epoch_{name}", float(value))
            self._write_images(epoch)
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if validation:
            with self._writer("validation").as_default(step=epoch):
                for name, value in validation.items():
                    tf.summary.scalar(f"epoch_{name}", float(value))
        for writer in self._writers.values():
            writer.flush()

    def _write_images(self, epoch):
        if self.summary_batch is None:
            return
        images, labels = self.summary_batch
        if self._image_summaries is None:  # one graph, traced once: samplers loop in-graph
            self._image_summaries = compiled_model_function(
                self.model, self.model.image_summaries, self.jit_compile
            )
        for name, grid_images in self._image_summaries(images, labels).items():
            grid = image_grid(keras.ops.convert_to_numpy(grid_images))
            tf.summary.image(name, grid[np.newaxis], step=epoch)
        # The plots the model supports that need only this batch (latent interpolations,
        # traversals, the 2-D manifold), drawn by the same code as `kgen plot`.
        for name, figure in summary_figures(self.model, images, labels).items():
            tf.summary.image(f"plots/{name}", figure_to_array(figure)[np.newaxis], step=epoch)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
