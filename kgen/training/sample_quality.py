"""FID and KID during training: every N epochs, samples of the current model are measured
against real images and logged beside the sample grids. `ImageSampler` draws the samples
here and in `kgen eval`."""

import keras
import numpy as np
import tensorflow as tf

from kgen.training.strategy import resolve_jit_compile


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
        self._draw = tf.function(
            lambda size, seed, labels: model.sample(size, seed=seed, labels=labels),
            jit_compile=self.jit_compile,
        )

    def __call__(self, num, seed, labels=None):
        """`num` images (one per label when `labels` are given), numpy [N, H, W, C] in [0, 1].

        Batch i uses seed `seed + i`, so the same seed gives the same images. Without
        labels a conditional model draws the classes 0, 1, ... in turn, as many of each.
        """
        if labels is not None:
            labels = np.asarray(labels, np.int32)
            num = len(labels)
            self.model.checked_labels(labels)  # here, where they are known: traced, they are not
        batches = []
        for index, start in enumerate(range(0, num, self.batch_size)):
            size = min(self.batch_size, num - start)
            batch_labels = (
                self.model.summary_labels(size) if labels is None else labels[start : start + size]
            )
            batches.append(
                np.asarray(self._draw(size, tf.constant(seed + index, tf.int64), batch_labels))
            )
        return np.concatenate(batches)


class SampleQualityCallback(keras.callbacks.Callback):
    """Adds `fid`, `kid` and `kid_std` to the epoch's logs every `every` epochs.

    It must come before the TensorBoard logger, which writes them as `epoch_fid`, ... in
    the run's `train/` folder, the same place and step as the sample grids.

    Args:
        reference: real images' features, with `compare(images, metrics, seed)`
            (`kgen.evaluation.ReferenceSet`).
        every: measure after every N-th epoch.
        num_samples: images generated each time (same seed each time, so epochs compare).
        seed: seed of the generated images.
        jit_compile: the --jit-compile setting for drawing them.
    """

    def __init__(self, reference, every, num_samples=1000, seed=0, jit_compile="auto"):
        super().__init__()
        self.reference = reference
        self.every = every
        self.num_samples = num_samples
        self.seed = seed
        self.jit_compile = jit_compile
        self._sampler = None

    def on_epoch_end(self, epoch, logs=None):
        if logs is None or (epoch + 1) % self.every:
            return
        if self._sampler is None:
            self._sampler = ImageSampler(self.model, jit_compile=self.jit_compile)
        images = self._sampler(self.num_samples, self.seed)
        results = self.reference.compare(images, ("fid", "kid"), seed=self.seed)
        logs.update(fid=results["fid"], kid=results["kid"]["mean"], kid_std=results["kid"]["std"])
