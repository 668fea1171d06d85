"""Drawing many samples of a model in batches, and the --jit-compile setting as a bool: what
training (in-training FID, TensorBoard grids, `kgen bench`) and evaluation (`kgen eval`,
`kgen plot`) both sample with, so it lives with the models they share."""

import keras
import numpy as np

from kgen.models.compiled import compiled_model_function


def resolve_jit_compile(setting, auto_default):
    """--jit-compile as a bool: "on"/"off" as said, "auto" as `auto_default` says (for the
    train step `kgen.training.strategy.default_jit_compile(strategy)`; for in-process
    sampling, such as the TensorBoard grids and `kgen bench`, the model's
    `sample_jit_compile`), and always on under JAX, which runs op by op without it."""
    if setting == "auto":
        return bool(auto_default) or keras.backend.backend() == "jax"
    return setting == "on"


class ImageSampler:
    """Draws many samples of a model in batches through one traced sampler: what `kgen
    eval`, `kgen plot`, `kgen bench` and the in-training FID sample with.

    Args:
        model: a GenerativeModel.
        batch_size: images per traced call.
        jit_compile: the --jit-compile setting ("auto" follows `model.sample_jit_compile`).
    """

    def __init__(self, model, batch_size=500, jit_compile="auto"):
        self.model = model
        self.batch_size = batch_size
        self.jit_compile = resolve_jit_compile(jit_compile, model.sample_jit_compile)
        self._draw = compiled_model_function(
            model,
            lambda size, seed, labels: model.sample(size, seed=seed, labels=labels),
            self.jit_compile,
            static_argnums=(0,),
        )

    def __call__(self, num, seed, labels=None):
        """`num` images (one per label when `labels` are given), numpy [N, H, W, C] in [0, 1].

        Batch i uses seed `seed + i`, so the same seed gives the same images. Without
        labels a conditional model draws the classes 0, 1, ... in turn, as many of each.
        """
        return self.images_and_labels(num, seed, labels)[0]

    def images_and_labels(self, num, seed, labels=None, progress=None):
        """(images, the labels they were drawn for) as `__call__` draws them; the labels
        are None for an unconditional model. `progress(done, total)`, if given, is called
        after each batch with the number of images drawn so far and the number to draw."""
        if labels is not None:
            labels = np.asarray(labels, np.int32)
            num = len(labels)
            self.model.checked_labels(labels)  # here, where they are known: traced, they are not
        batches, batch_labels = [], []
        for index, start in enumerate(range(0, num, self.batch_size)):
            size = min(self.batch_size, num - start)
            batch_labels.append(
                self.model.summary_labels(size) if labels is None else labels[start : start + size]
            )
            batches.append(
                keras.ops.convert_to_numpy(
                    self._draw(size, np.asarray(seed + index, np.int64), batch_labels[-1])
                )
            )
            if progress:
                progress(start + size, num)
        drawn_for = None if batch_labels[0] is None else np.concatenate(batch_labels)
        return np.concatenate(batches), drawn_for
