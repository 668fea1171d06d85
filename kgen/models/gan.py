"""GAN: a generator G(z) against a discriminator D(x), trained in alternating steps.

D learns to tell data from G's samples (a logistic classifier on its score s, D = sigmoid(s));
G learns to make D call its samples real. The original minimax objective gives G the loss
log(1 - D(G(z))), whose gradient vanishes exactly when D confidently rejects G's samples (at
the start of training); the non-saturating loss -log D(G(z)) has the same fixed point and a
strong gradient there, which is why it is the default.
"""

import keras
from keras import ops

from kgen.models import tensorflow_steps
from kgen.models.base import GenerativeModel
from kgen.models.kgen_model import Endpoint
from kgen.random import resolve_seed
from kgen.random import sub_seed

GENERATOR_LOSSES = ("non-saturating", "minimax")


def discriminator_loss(real_scores, fake_scores, label_smoothing=0.0):
    """Per-example -log D(x) - log(1 - D(G(z))), from scores (logits).

    One-sided label smoothing makes the target of real images 1 - label_smoothing; fake
    images keep target 0 (smoothing those would reward G's mistakes).
    """
    real_target = 1.0 - label_smoothing
    # Binary cross-entropy with logits, written stably: softplus(s) - target * s.
    return ops.softplus(real_scores) - real_target * real_scores + ops.softplus(fake_scores)


def generator_loss(fake_scores, loss="non-saturating"):
    """Per-example generator loss: -log D(G(z)) (non-saturating) or log(1 - D(G(z))) (minimax)."""
    if loss == "non-saturating":
        return ops.softplus(-fake_scores)
    if loss == "minimax":
        return -ops.softplus(fake_scores)
    raise ValueError(f"`loss` must be one of {GENERATOR_LOSSES}. Received: loss={loss!r}")


@keras.saving.register_keras_serializable(package="kgen")
class GAN(GenerativeModel):
    """A GAN over images in [0, 1] (the networks see [-1, 1]), optionally class-conditional.

    Call `compile(d_optimizer=..., g_optimizer=...)`. Each train step takes `d_steps`
    discriminator steps on the batch (fresh z each), then one generator step, then updates
    an exponential moving average (EMA) of the generator's weights, which sampling and the
    export use: it averages out the last steps' oscillation. The average warms up: its decay
    at update t (t = 0, 1, ...) is min(ema_decay, (1 + t) / (10 + t)), as TF's
    ExponentialMovingAverage with `num_updates`, so the random initialization is forgotten
    within the first steps instead of lingering for ~1/(1 - ema_decay) of them.

    Args:
        generator: model from z (and label) to an image in [-1, 1].
        discriminator: model from an image in [-1, 1] (and label) to one score per image.
        loss: generator loss, "non-saturating" or "minimax".
        d_steps: discriminator steps per generator step.
        label_smoothing: one-sided label smoothing of the real targets, in [0, 1).
        ema_decay: decay of the generator's weight average, in [0, 1); 0 copies the weights.
        num_classes: number of labels for a conditional GAN, or None.
        seed: int or None, seeds the model's random generators.
    """

    serving_default = "generate"
    sublayer_arguments = ("generator", "discriminator")
    metric_names = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(
        self,
        generator,
        discriminator,
        loss="non-saturating",
        d_steps=1,
        label_smoothing=0.0,
        ema_decay=0.999,
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in GENERATOR_LOSSES:
            raise ValueError(f"`loss` must be one of {GENERATOR_LOSSES}. Received: loss={loss!r}")
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(
                f"`d_steps` must be an int of at least 1. Received: d_steps={d_steps!r}"
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing}")
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"`ema_decay` must be in [0, 1). Received: ema_decay={ema_decay}")
        # === Config ===
        # Not `self.loss`: keras.Model.compile owns that attribute and would overwrite it.
        self.generator_loss = loss
        self.d_steps = d_steps
        self.label_smoothing = float(label_smoothing)
        self.ema_decay = float(ema_decay)
        self.num_classes = num_classes
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        # === Layers ===
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = keras.models.clone_model(generator)
        self.ema_generator.set_weights(generator.get_weights())
        # Updated by `update_ema`, never by an optimizer: out of `trainable_variables` and
        # the trainable parameter count.
        self.ema_generator.trainable = False
        self.sampling_generator = "ema"
        self.latent_seed_generator = keras.random.SeedGenerator(
            sub_seed(seed, 0), name="latent_seed"
        )
        self.prior_seed_generator = keras.random.SeedGenerator(sub_seed(seed, 1), name="prior_seed")
        # === Metrics ===
        self.trackers = [keras.metrics.Mean(name=name) for name in self.metric_names]
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        """Set the discriminator's and the generator's optimizers (each family's config
        builds them with its documented defaults)."""
        super().compile(optimizer=g_optimizer, **kwargs)
        self.g_optimizer = self.optimizer  # wrapped for loss scaling under mixed_float16
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            d_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.d_optimizer = d_optimizer
        # Now, inside the strategy scope the builder runs in: Keras builds only `optimizer`
        # before training, and a slot created lazily inside a replica's step breaks.
        self.build_optimizer_state()

    def build_optimizer_state(self):
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        """Both optimizers (Keras's own config records only `optimizer`), so that a reloaded
        `.keras` archive compiles again and gets their moments and iterations back."""
        config = super().get_compile_config()
        if config is None:
            return None
        config.pop("optimizer", None)
        config["d_optimizer"] = keras.saving.serialize_keras_object(self.d_optimizer)
        config["g_optimizer"] = keras.saving.serialize_keras_object(self.g_optimizer)
        return config

    def compile_from_config(self, config):
        """Compile from `get_compile_config()`; the optimizers are built here, so that loading
        the archive restores their variables."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    # --- Networks, in image space [0, 1] outside ---

    def draw_latent(self, num, seed=None):
        """z ~ N(0, I), [num, latent_dim], for training steps (sampling draws from the prior
        generator, as `GenerativeModel.sample` does)."""
        return keras.random.normal(
            (num, self.latent_dim), seed=resolve_seed(seed, self.latent_seed_generator)
        )

    generator_versions = ("ema", "raw")

    def select_generator(self, version):
        """Sample (and export) with the "ema" generator (the default) or the "raw" one, the
        weights the last generator step left."""
        self.check_generator_version(version)
        self.sampling_generator = version

    def generate(self, z, labels=None):
        """Images in [0, 1] from the selected generator (the EMA unless told otherwise)."""
        network = self.ema_generator if self.sampling_generator == "ema" else self.generator
        images = network(self.with_label(z, labels), training=False)
        return (ops.cast(images, "float32") + 1.0) / 2.0

    decode = generate  # the latent protocol's name for G(z)

    @staticmethod
    def to_network_range(images):
        """Images in [0, 1] -> the [-1, 1] the networks work in."""
        return ops.cast(images, "float32") * 2.0 - 1.0

    def call(self, inputs, labels=None, training=False):
        """Discriminator scores of a batch of images in [0, 1] (or a batch dict)."""
        images, batch_labels = self.unpack(inputs)
        return self.score(
            self.to_network_range(images), batch_labels if labels is None else labels, training
        )

    def score(self, network_images, labels=None, training=False):
        """D's score (logit) per image, for images in [-1, 1]; shape [N]."""
        scores = self.discriminator(self.with_label(network_images, labels), training=training)
        return ops.cast(ops.reshape(scores, (-1,)), "float32")

    def fake(self, z, labels=None, training=False):
        """G's images in [-1, 1] (the trained generator, not the EMA)."""
        return self.generator(self.with_label(z, labels), training=training)

    # --- Objective: per-example terms ---

    def discriminator_terms(self, real, labels, z, training=False):
        """Per-example discriminator loss, and D(x), D(G(z)) as probabilities; `real` in [-1, 1]."""
        real_scores = self.score(real, labels, training)
        fake_scores = self.score(self.fake(z, labels, training), labels, training)
        return {
            "d_loss": discriminator_loss(real_scores, fake_scores, self.label_smoothing),
            "d_real": ops.sigmoid(real_scores),
            "d_fake": ops.sigmoid(fake_scores),
        }

    def generator_terms(self, labels, z, training=False):
        fake_scores = self.score(self.fake(z, labels, training), labels, training)
        return {"g_loss": generator_loss(fake_scores, self.generator_loss)}

    def after_discriminator_step(self):
        """Hook run after each discriminator update (WGAN's weight clipping); nothing here."""

    def ema_decay_at(self, step):
        """The EMA's decay at update `step` (counted from 0): min(ema_decay,
        (1 + step) / (10 + step)), the warm-up of TF's ExponentialMovingAverage."""
        step = ops.cast(step, "float32")
        return ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))

    def update_ema(self):
        """ema <- decay_t * ema + (1 - decay_t) * weights, for every generator weight
        (batch-norm statistics included), right after generator step t + 1.

        t comes from the generator optimizer's `iterations`, which the checkpoint holds, so a
        resumed run continues the same schedule.
        """
        decay = self.ema_decay_at(self.g_optimizer.iterations - 1)
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * ops.cast(weight, average.dtype))

    def train_step(self, data):
        return tensorflow_steps.adversarial_train_step(self, data)

    def test_step(self, data):
        real, labels = self.unpack(data)
        real = self.to_network_range(real)
        z = self.draw_latent(ops.shape(real)[0])
        terms = self.discriminator_terms(real, labels, z)
        terms.update(self.generator_terms(labels, z))
        return self.update_trackers(terms)

    # --- Protocol ---

    def export_endpoints(self):
        inputs = {"z": ((None, self.latent_dim), "float32")}
        if self.num_classes:
            inputs["labels"] = ((None,), "int32")

        def generate(z, labels=None):
            return {"images": self.generate(z, labels)}

        return {"generate": Endpoint(generate, inputs), "sample": self.sample_endpoint()}

    def get_config(self):
        return self.config_with(
            loss=self.generator_loss,
            d_steps=self.d_steps,
            label_smoothing=self.label_smoothing,
            ema_decay=self.ema_decay,
            num_classes=self.num_classes,
            seed=self.seed,
        )
