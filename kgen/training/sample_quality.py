"""FID and KID during training: every N epochs, samples of the current model are measured
against real images and logged beside the sample grids. `ImageSampler` draws the samples
here and in `kgen eval`."""

import keras
import numpy as np
import tensorflow as tf


class ImageSampler:
    """Draws many samples of a model in batches through one traced sampler.

    Batch i of a call uses seed `seed + i`, so the same seed gives the same images.
    Conditional models draw the labels 0, 1, ... in turn: as many of each class as the others.
    """

    def __init__(self, model, batch_size=500, jit_compile=False):
        self.batch_size = batch_size
        self._draw = tf.function(
            lambda size, seed: model.sample(size, seed=seed, labels=model.summary_labels(size)),
            jit_compile=jit_compile,
        )

    def __call__(self, num, seed):
        """`num` images, numpy [num, H, W, C] in [0, 1]."""
        batches = []
        for index, start in enumerate(range(0, num, self.batch_size)):
            size = min(self.batch_size, num - start)
            batches.append(np.asarray(self._draw(size, tf.constant(seed + index, tf.int64))))
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
        jit_compile: draw them under XLA.
    """

    def __init__(self, reference, every, num_samples=1000, seed=0, jit_compile=False):
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
