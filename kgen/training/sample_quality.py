"""FID and KID during training: every N epochs, samples of the current model are measured
against real images and logged beside the sample grids."""

import keras

from kgen.models.image_sampler import ImageSampler


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
