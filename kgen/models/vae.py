"""Variational auto-encoder: the ELBO objective, importance-weighted likelihood, and sampling.

ELBO(x) = E_q(z|x)[log p(x | z)] - KL(q(z | x) || p(z)), with q a diagonal Gaussian whose
sample is reparameterized (`Sampling`) and the KL to p(z) = N(0, I) taken in closed form.
"""

import math

import keras
from keras import ops

from kgen.distributions import gaussian_kl_to_standard_normal
from kgen.distributions import gaussian_log_prob
from kgen.distributions import get_likelihood
from kgen.layers import Sampling
from kgen.models.base import GenerativeModel
from kgen.models.kgen_model import Endpoint
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.training_steps import objective_test_step
from kgen.models.training_steps import objective_train_step
from kgen.random import sub_seed


@keras.saving.register_keras_serializable(package="kgen")
class VAE(GenerativeModel):
    """A VAE over images in [0, 1], optionally conditioned on class labels (CVAE).

    Args:
        encoder: model from image (and label) to (mean, log_variance) of q(z | x).
        decoder: model from z (and label) to the parameters of p(x | z).
        likelihood: "bernoulli" (dynamic binarization) or "logistic" (8-bit, discretized).
        beta: weight of the KL term; 1 gives the ELBO.
        num_classes: number of labels for a conditional VAE, or None.
        seed: int or None, seeds the model's random generators.
    """

    serving_default = "decode"
    sublayer_arguments = ("encoder", "decoder")
    sampled_likelihood = True  # the IWAE bound draws importance samples per image

    def __init__(
        self,
        encoder,
        decoder,
        likelihood="bernoulli",
        beta=1.0,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if beta < 0:
            raise ValueError(f"`beta` must be non-negative. Received: beta={beta}")
        # === Config ===
        self.likelihood_name = likelihood
        self.likelihood = get_likelihood(likelihood)
        self.beta = float(beta)
        self.num_classes = num_classes
        self.seed = seed
        self.image_shape = tuple(encoder.inputs[0].shape[1:])
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        # === Layers ===
        self.encoder = encoder
        self.decoder = decoder
        self.sampling = Sampling(seed=sub_seed(seed, 0), name="sampling")
        self.binarize_seed_generator = keras.random.SeedGenerator(
            sub_seed(seed, 1), name="binarize_seed"
        )
        self.prior_seed_generator = keras.random.SeedGenerator(sub_seed(seed, 2), name="prior_seed")
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # the networks arrive built

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    # --- Networks with the optional label ---

    def encode(self, images, labels=None, training=False):
        """(mean, log_variance) of q(z | x) for external images.

        The one place the encoder is called: training, the bounds, `reconstruct`, the plots
        and the export all show it the likelihood's `encoder_input` (the grey image under
        the Bernoulli likelihood, never a binarization of it), while the likelihood scores
        its own targets.
        """
        return self.encoder(
            self.with_label(self.likelihood.encoder_input(images), labels), training=training
        )

    def decode(self, z, labels=None):
        """The mean image in [0, 1] of p(x | z)."""
        return self.likelihood.mean(self.decoder(self.with_label(z, labels)))

    def call(self, inputs, labels=None, training=False):
        """Reconstructions of a batch: images, or a batch dict/tuple as `fit` passes it."""
        images, batch_labels = self.unpack(inputs)
        return self.reconstruct(images, batch_labels if labels is None else labels)

    # --- Objective ---

    def per_example_terms(self, data, training=False):
        """Negative ELBO and its two parts, in nats per image."""
        images, labels = self.unpack(data)
        terms = self._elbo_terms(images, self._targets(images), labels, training)
        return {"loss": terms["reconstruction"] + self.beta * terms["kl"], **terms}

    def _elbo_terms(self, images, targets, labels, training=False):
        """-log p(targets | z) for one reparameterized z ~ q(z | images), and KL(q || p(z)).

        q may depend on the grey image rather than on the binarized targets it scores: the
        bound log p(x) >= E_q[log p(x, z) - log q(z)] holds for any q.
        """
        mean, log_variance = self.encode(images, labels, training=training)
        z = self.sampling(mean, log_variance)
        params = self.decoder(self.with_label(z, labels), training=training)
        return {
            "reconstruction": -self.likelihood.log_prob(targets, params),
            "kl": gaussian_kl_to_standard_normal(mean, log_variance),
        }

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        return backend_train_step(self, objective_train_step, *args)

    def test_step(self, *args):
        return backend_test_step(self, objective_test_step, *args)

    def elbo(self, images, labels=None):
        """Per-image ELBO (one posterior sample, closed-form KL), in nats."""
        return self._elbo(images, self._targets(images), labels)

    def _targets(self, images):
        return self.likelihood.targets(images, self.binarize_seed_generator)

    def _elbo(self, images, targets, labels):
        terms = self._elbo_terms(images, targets, labels)
        return -(terms["reconstruction"] + terms["kl"])

    def log_likelihood(self, images, labels=None, num_samples=1000, chunk_size=100):
        """Importance-weighted estimate of log p(x) (the IWAE bound, Burda et al. 2015).

        log p(x) >= log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i | x), z_i ~ q(z | x). The k
        samples are drawn `chunk_size` at a time and combined with a running log-sum-exp,
        so memory stays that of `chunk_size` decoder passes per image.
        """
        return self._iwae(images, self._targets(images), labels, num_samples, chunk_size)

    def _iwae(self, images, targets, labels, num_samples, chunk_size=100):
        mean, log_variance = self.encode(images, labels)
        batch = ops.shape(targets)[0]
        total = None
        for start in range(0, num_samples, chunk_size):
            k = min(chunk_size, num_samples - start)
            log_w = self._log_importance_weights(targets, labels, mean, log_variance, k, batch)
            chunk = ops.logsumexp(log_w, axis=0)
            total = chunk if total is None else ops.logaddexp(total, chunk)
        return total - math.log(num_samples)

    def negative_log_likelihoods(self, images, labels=None, num_samples=1000):
        """The negative ELBO and the IWAE estimate of -log p(x) with `num_samples` samples,
        both scoring the same binarization of each image."""
        targets = self._targets(images)
        return {
            "negative_elbo": -self._elbo(images, targets, labels),
            "iwae_nll": -self._iwae(images, targets, labels, num_samples),
        }

    def _log_importance_weights(self, targets, labels, mean, log_variance, k, batch):
        """log p(x, z) - log q(z | x) for k posterior samples per image, shape [k, batch]."""
        repeat = lambda t: ops.reshape(
            ops.repeat(t[None], k, axis=0), (k * batch,) + tuple(t.shape[1:])
        )
        z_mean, z_log_variance = repeat(mean), repeat(log_variance)
        z = self.sampling(z_mean, z_log_variance)
        params = self.decoder(self.with_label(z, None if labels is None else repeat(labels)))
        log_px_given_z = self.likelihood.log_prob(repeat(targets), params)
        log_pz = gaussian_log_prob(z, ops.zeros_like(z), ops.zeros_like(z))
        log_qz = gaussian_log_prob(z, z_mean, z_log_variance)
        return ops.reshape(log_px_given_z + log_pz - log_qz, (k, batch))

    # --- Protocol ---

    def image_summaries(self, images, labels=None):
        grids = super().image_summaries(images, labels)
        # Originals and reconstructions interleaved: each original sits left of its copy.
        pairs = ops.stack([images, self.reconstruct(images, labels)], axis=1)
        grids["reconstructions"] = ops.reshape(pairs, (-1,) + tuple(images.shape[1:]))
        return grids

    def export_endpoints(self):
        image_spec = ((None,) + self.image_shape, "float32")
        label_spec = {"labels": ((None,), "int32")} if self.num_classes else {}

        def encode(images, labels=None):
            mean, log_variance = self.encode(images, labels)
            return {"mean": mean, "log_variance": log_variance}

        def decode(z, labels=None):
            return {"images": self.decode(z, labels)}

        def reconstruct(images, labels=None):
            return {"images": self.reconstruct(images, labels)}

        return {
            **super().export_endpoints(),
            "encode": Endpoint(encode, {"images": image_spec, **label_spec}),
            "decode": Endpoint(decode, {"z": ((None, self.latent_dim), "float32"), **label_spec}),
            "reconstruct": Endpoint(reconstruct, {"images": image_spec, **label_spec}),
        }

    def reference_model(self):
        from kgen.models.reference_steps import ReferenceVAE  # TensorFlow's: imported on use

        return ReferenceVAE(self)

    def get_config(self):
        return self.config_with(
            likelihood=self.likelihood_name,
            beta=self.beta,
            num_classes=self.num_classes,
            seed=self.seed,
        )
