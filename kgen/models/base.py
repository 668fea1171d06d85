"""The protocol every generative model offers to generic code (driver, callbacks, exporter,
evaluator, CLI): sampling and likelihoods, on top of what every trained model offers."""

import keras
from keras import ops

from kgen.models.kgen_model import Endpoint
from kgen.models.kgen_model import KgenModel
from kgen.random import resolve_seed


class GenerativeModel(KgenModel):
    """Base of the four families: sampling, likelihoods, export endpoints, metric trackers.

    Subclasses set `image_shape` and `num_classes` and implement `sample`; families with a
    likelihood implement `log_likelihood`. Images outside the model are float32 in [0, 1],
    shape [N, H, W, C]; each model maps them to its own internal space and back.
    """

    serving_default = "sample"

    def sample(self, num, seed=None, labels=None):
        """`num` images in [0, 1] (one per label when `labels` are given). `seed`: None (the
        model's generator), an int or a tensor.

        The default serves families with a latent space: decode z ~ N(0, I), drawn from the
        model's `prior_seed_generator`. Other families override it.
        """
        if self.latent_dim is None:
            raise NotImplementedError(f"{type(self).__name__} must implement `sample`.")
        num = self.sample_count(num, labels)
        z = keras.random.normal(
            (num, self.latent_dim), seed=resolve_seed(seed, self.prior_seed_generator)
        )
        return self.decode(z, labels)

    def sample_seeds(self, seeds, labels=None):
        """One image in [0, 1] per seed (and label): image i depends on `seeds[i]` (and
        `labels[i]`) alone, bit for bit, whatever else is in the batch; the same seed draws
        the same image as `sample(1, seed=seed)`.

        Each row is `sample(1, ...)` with its own stateless seed, so every family that
        samples from a tensor seed has it. A row is drawn as a batch of one: batched kernels
        sum in an order that depends on the batch size (the VAE's decoder gives rows that
        differ in the last bit between batches of 1 and 2), so one batched draw could not
        keep a row the same across requests. The price is the batch's parallelism: rows run
        one after another, which costs the VAE and GAN little; PixelCNN, for which it cost
        30 times a batched draw, overrides this with one.
        """
        # Row i is [seed_i] or [seed_i, label_i]: one tensor, as Keras 3.15's TensorFlow scan
        # fails on a tuple of rows whose number is unknown when traced.
        rows = ops.expand_dims(ops.convert_to_tensor(seeds, "int64"), 1)
        if labels is not None:
            labels = ops.expand_dims(ops.convert_to_tensor(labels, "int64"), 1)
            rows = ops.concatenate([rows, labels], axis=1)

        def draw_row(unused, row):
            row_labels = None if labels is None else ops.cast(row[1:], "int32")
            image = self.sample(1, seed=row[0], labels=row_labels)[0]
            return unused, ops.cast(image, "float32")

        # A scan rather than `ops.map`, which would draw one more row outside the loop (to
        # learn the output's shape) and fail on no seeds; the carry is unused.
        _, images = ops.scan(draw_row, ops.zeros(self.image_shape), rows)
        return images

    def log_likelihood(self, images, labels=None):
        """Per-image log p(x) in nats (exact, a bound or an estimate, as the family allows)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no likelihood; evaluate it by its samples instead."
        )

    def negative_log_likelihoods(self, images, labels=None, num_samples=None):
        """Per-image negative log-likelihood figures in nats, by name (e.g. a bound and an
        estimate); `num_samples` tunes estimators that sample. Families without a
        likelihood raise NotImplementedError, as `log_likelihood` does."""
        return {"nll": -self.log_likelihood(images, labels)}

    @property
    def has_likelihood(self):
        """Whether the family defines `log_likelihood` (the evaluator's likelihood metrics)."""
        return type(self).log_likelihood is not GenerativeModel.log_likelihood

    def export_endpoints(self):
        """Named endpoints for the SavedModel; every family exports at least `sample` and
        `sample_seeds` (families add theirs to these)."""
        return {"sample": self.sample_endpoint(), "sample_seeds": self.sample_seeds_endpoint()}

    # Whether the likelihood figures are estimated by sampling (importance samples per image,
    # as the VAE's IWAE bound) rather than computed exactly.
    sampled_likelihood = False

    # Name of the likelihood the family scores images with ("bernoulli", ...), or None.
    likelihood_name = None

    def serving_metadata(self):
        return {
            **super().serving_metadata(),
            "latent_dim": self.latent_dim,
            "likelihood": self.likelihood_name,
        }

    def image_summaries(self, images, labels=None):
        """Image grids (name -> images in [0, 1]) that TensorBoard shows each epoch."""
        num = ops.shape(images)[0]
        return {
            "samples": self.sample(num, seed=self.summary_seed, labels=self.summary_labels(num))
        }

    # --- Generator versions, for families that keep several sets of generator weights ---

    # Versions `select_generator` accepts, the default first (the adversarial families keep
    # an exponential moving average, "ema", beside the "raw" trained weights); empty when a
    # family samples with one set of weights.
    generator_versions = ()
    sampling_generator = None  # the version in use, where there are several

    def select_generator(self, version):
        """Sample, decode and export with generator `version` (one of `generator_versions`)."""
        self.check_generator_version(version)

    def check_generator_version(self, version):
        if version not in self.generator_versions:
            have = (
                f"it has {', '.join(self.generator_versions)}"
                if self.generator_versions
                else "it samples with one set of weights"
            )
            raise ValueError(f"{type(self).__name__} has no {version!r} generator; {have}.")

    # --- Latent space, for families that have one (plots read it through these) ---

    # Size of the code z that `decode` turns into images; None for a family without a latent
    # space (PixelCNN). A family that sets it implements `decode`.
    latent_dim = None

    def decode(self, z, labels=None):
        """Images in [0, 1] from codes z, float32 [N, latent_dim]."""
        raise NotImplementedError(f"{type(self).__name__} has no latent space to decode from.")

    def encode(self, images, labels=None):
        """(mean, log_variance) of the posterior q(z | x) of images in [0, 1]; only families
        with an encoder implement it (see `can_encode`)."""
        raise NotImplementedError(f"{type(self).__name__} has no encoder.")

    def reconstruct(self, images, labels=None):
        """Encode to the posterior mean, decode to the mean image (families that encode)."""
        mean, _ = self.encode(images, labels)
        return self.decode(mean, labels)

    @property
    def can_decode(self):
        """Whether codes z can be decoded (traversals, the 2-D manifold)."""
        return self.latent_dim is not None

    @property
    def can_encode(self):
        """Whether images can be encoded (reconstructions, interpolations between images)."""
        return type(self).encode is not GenerativeModel.encode

    # --- Helpers for subclasses ---

    def sample_endpoint(self):
        """`sample(num, seed[, labels])`; with labels, one image per label (num is ignored)."""
        inputs = {"num": ((), "int32"), "seed": ((), "int64")}
        if self.num_classes:
            inputs["labels"] = ((None,), "int32")

        def sample(num, seed, labels=None):
            return {"images": self.sample(num, seed=seed, labels=labels)}

        return Endpoint(sample, inputs)

    def sample_seeds_endpoint(self):
        """`sample_seeds(seeds[, labels])`: one image per seed (and label), each a function
        of its own row alone (see `sample_seeds`)."""
        inputs = {"seeds": ((None,), "int64")}
        if self.num_classes:
            inputs["labels"] = ((None,), "int32")

        def sample_seeds(seeds, labels=None):
            return {"images": self.sample_seeds(seeds, labels)}

        return Endpoint(sample_seeds, inputs)

    @staticmethod
    def sample_count(num, labels):
        """How many images a sampler draws: one per label when labels are given, else `num`."""
        return num if labels is None else ops.shape(labels)[0]

    def summary_labels(self, num):
        """Labels 0, 1, ..., cycling, for a grid of `num` conditional samples (None if
        unconditional)."""
        if not self.num_classes:
            return None
        return ops.mod(ops.arange(num, dtype="int32"), self.num_classes)
