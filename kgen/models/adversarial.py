"""The adversarial protocol: a generator G(z) against a discriminator D(x), trained in
alternating steps. GAN and WGAN-GP derive from `AdversarialModel` and differ only in their
objectives (and WGAN's weight clipping)."""

import keras
from keras import ops

from kgen.layers.augmentation import augment
from kgen.layers.augmentation import draw_augmentation
from kgen.layers.augmentation import parse_policy
from kgen.models.base import GenerativeModel
from kgen.models.kgen_model import Endpoint
from kgen.models.steps import backend_steps
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.training_steps import adversarial_test_step
from kgen.models.training_steps import adversarial_train_step
from kgen.networks.common import computing_in_float32
from kgen.networks.common import mixes_batch_examples
from kgen.random import resolve_seed
from kgen.random import sub_seed


def squared_norms(gradients):
    """Per-example ||gradient||_2^2 in float32, for [N, ...] gradients (one row per image):
    what the R1 penalty is, and what WGAN-GP's penalty takes the root of."""
    gradients = ops.cast(gradients, "float32")
    return ops.sum(ops.reshape(ops.square(gradients), (ops.shape(gradients)[0], -1)), axis=-1)


class AdversarialModel(GenerativeModel):
    """A generator and a discriminator (a critic, for WGAN) over images in [0, 1]; the
    networks see [-1, 1]. Optionally class-conditional.

    One training step (`train_step`, i.e. `training_steps.adversarial_train_step`):

    1. The batch's images go from [0, 1] to the networks' [-1, 1] (`to_network_range`).
    2. `d_steps` times: draw a fresh z ~ N(0, I) (`draw_latent`); compute the
       discriminator's per-example terms, `discriminator_terms(real, labels, z)`, whose
       "d_loss" entry is its objective; take one `d_optimizer` step on the discriminator's
       weights; then run `after_discriminator_step` (WGAN's weight clipping; nothing by
       default).
    3. Draw another z; compute `generator_terms(labels, z)`, whose "g_loss" entry is the
       generator's objective; take one `g_optimizer` step on the generator's weights.
    4. `update_ema`: move the exponential moving average (EMA) of the generator's weights
       toward the new weights. Sampling and the export use the average, which smooths out
       the last steps' oscillation.
    5. Every term's batch mean goes to the metric tracker of the same name
       (`metric_names`).

    Every loss is averaged over the global batch, so the step is the same under any
    tf.distribute strategy; a step whose gradients are not finite is not applied.

    A family implements `discriminator_terms` and `generator_terms`, names its logged
    terms in `metric_names`, and may override `after_discriminator_step`; the rest is here.

    The EMA warms up: its decay at update t (t = 0, 1, ...) is min(ema_decay,
    (1 + t) / (10 + t)), as TF's ExponentialMovingAverage with `num_updates`, so the random
    initialization is forgotten within the first steps instead of lingering for
    ~1/(1 - ema_decay) of them.

    With an `augment` policy (DiffAugment), every training-time call of the discriminator
    sees T(x) instead of x: real and fake images, in the discriminator's steps and the
    generator's, and the points a penalty differentiates at. A real and a fake image at the
    same index of a discriminator step get the same draw of T. Validation, `call` and
    sampling never augment.

    Args:
        generator: model from z (and label) to an image in [-1, 1].
        discriminator: model from an image in [-1, 1] (and label) to one score per image.
        d_steps: discriminator steps per generator step.
        ema_decay: decay of the generator's weight average, in [0, 1); 0 copies the weights.
        augment: DiffAugment policy, a comma-separated subset of "color,translation,cutout",
            or "none" (see `kgen.layers.augmentation`).
        num_classes: number of labels for a conditional model, or None.
        seed: int or None, seeds the model's random generators.

    Call `compile(d_optimizer=..., g_optimizer=...)` before training.
    """

    serving_default = "generate"
    sublayer_arguments = ("generator", "discriminator")
    metric_names = ()  # the per-example terms a family logs

    def __init__(
        self,
        generator,
        discriminator,
        d_steps=1,
        ema_decay=0.999,
        augment="none",
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(d_steps, int) or d_steps < 1:
            raise ValueError(
                f"`d_steps` must be an int of at least 1. Received: d_steps={d_steps!r}"
            )
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"`ema_decay` must be in [0, 1). Received: ema_decay={ema_decay}")
        # === Config ===
        self.d_steps = d_steps
        self.ema_decay = float(ema_decay)
        self.augment_policy = parse_policy(augment)
        self.num_classes = num_classes
        self.seed = seed
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(generator.outputs[0].shape[1:])
        # === Layers ===
        self.generator = generator
        self.discriminator = discriminator
        # Batch norm in D would normalize real and fake images together if scored at once.
        self.score_separately = mixes_batch_examples(discriminator)
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
        if self.augment_policy:
            # Only when augmenting: a run without augmentation keeps the state it always had.
            self.augment_seed_generator = keras.random.SeedGenerator(
                sub_seed(seed, 3), name="augment_seed"
            )
        # === Metrics ===
        self.trackers = [keras.metrics.Mean(name=name) for name in self.metric_names]
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    # --- Optimizers: one per network ---

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

    @property
    def training_optimizers(self):
        if not hasattr(self, "d_optimizer"):  # not compiled yet
            return super().training_optimizers
        return (self.g_optimizer, self.d_optimizer)

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
        """D's score (logit) per image, for images in [-1, 1]; shape [N]. In training, of
        the augmented images when the model augments."""
        if training and self.augment_policy:
            draws = self.draw_augmentation(ops.shape(network_images)[0])
            network_images = augment(network_images, self.augment_policy, draws)
        return self.discriminate(network_images, labels, training)

    def discriminate(self, network_images, labels=None, training=False):
        """D's score per image of `network_images` as they are (no augmentation)."""
        scores = self.discriminator(self.with_label(network_images, labels), training=training)
        return ops.cast(ops.reshape(scores, (-1,)), "float32")

    def draw_augmentation(self, num):
        """The augmentation policy's random parameters for `num` images (per replica)."""
        return draw_augmentation(
            self.augment_policy,
            num,
            self.image_shape,
            resolve_seed(None, self.augment_seed_generator),
        )

    def real_and_fake_scores(self, real, fake, labels=None, training=False):
        """D's scores of `real` and `fake` images (both [-1, 1], the same labels): one call
        on both together, which is faster than two half as large, unless the discriminator
        has batch norm (`score_separately`), whose statistics must not mix the two. In
        training with augmentation, the real and the fake image at each index share one
        draw of the policy."""
        fake = ops.cast(fake, real.dtype)
        if training and self.augment_policy:
            draws = self.draw_augmentation(ops.shape(real)[0])
            real = augment(real, self.augment_policy, draws)
            fake = augment(fake, self.augment_policy, draws)
        if self.score_separately:
            return (
                self.discriminate(real, labels, training),
                self.discriminate(fake, labels, training),
            )
        batch = ops.shape(real)[0]
        both_labels = None if labels is None else ops.concatenate([labels, labels], axis=0)
        scores = self.discriminate(ops.concatenate([real, fake], 0), both_labels, training)
        return scores[:batch], scores[batch:]

    def score_input_gradients(self, network_images, labels=None, training=False):
        """grad_x D(x) at each image (D as `score` sees it, augmentation included in
        training), computed in float32 whatever the dtype policy: under mixed float16 small
        gradients would flush to zero (no loss scale reaches an input gradient), under
        bfloat16 they would keep 8 bits, and either biases a penalty built on them."""
        with computing_in_float32(self.discriminator):
            return backend_steps().input_gradients(
                lambda x: self.score(x, labels, training), ops.cast(network_images, "float32")
            )

    def fake(self, z, labels=None, training=False):
        """G's images in [-1, 1] (the trained generator, not the EMA)."""
        return self.generator(self.with_label(z, labels), training=training)

    # --- Objectives: per-example terms, each family's own ---

    def discriminator_terms(self, real, labels, z, training=False):
        """Per-example terms of one discriminator step, with its objective as "d_loss";
        `real` in [-1, 1], `z` the latent codes of the fakes."""
        raise NotImplementedError(f"{type(self).__name__} must implement `discriminator_terms`.")

    def generator_terms(self, labels, z, training=False):
        """Per-example terms of one generator step, with its objective as "g_loss"."""
        raise NotImplementedError(f"{type(self).__name__} must implement `generator_terms`.")

    def after_discriminator_step(self):
        """Hook run once (for all replicas) after each discriminator update; nothing here."""

    # --- The generator's moving average ---

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
        rate = 1.0 - self.ema_decay_at(self.g_optimizer.iterations - 1)
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            # ema - rate * (ema - w): the same average in one op fewer than the textbook form.
            average.assign_sub(rate * (average - ops.cast(weight, average.dtype)))

    # --- Steps ---

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        return backend_train_step(self, adversarial_train_step, *args)

    def test_step(self, *args):
        return backend_test_step(self, adversarial_test_step, *args)

    # --- Protocol ---

    def export_endpoints(self):
        inputs = {"z": ((None, self.latent_dim), "float32")}
        if self.num_classes:
            inputs["labels"] = ((None,), "int32")

        def generate(z, labels=None):
            return {"images": self.generate(z, labels)}

        return {**super().export_endpoints(), "generate": Endpoint(generate, inputs)}

    def adversarial_config(self, **settings):
        """`get_config` for subclasses: the shared settings, and the family's `settings`."""
        return self.config_with(
            d_steps=self.d_steps,
            ema_decay=self.ema_decay,
            augment=",".join(self.augment_policy) or "none",
            num_classes=self.num_classes,
            seed=self.seed,
            **settings,
        )
