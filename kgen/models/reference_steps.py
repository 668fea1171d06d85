"""The yardstick `kgen bench --reference` times each family's train step against: a
minimal Keras model on the very same networks, with a textbook `train_step`.

Each reference step is what a tutorial would write: a plain `tf.GradientTape`, the family's
loss written the simplest way (a plain batch mean), one optimizer per network, a `Mean`
tracker per loss, and nothing else (no global-batch loss scaling, no per-example metrics,
no check for non-finite gradients, no EMA). Its random draws come from the family's own
seed generators, in the family's order, so that from the same weights and generator states
it computes the same losses as the family's step (tests/test_reference_steps.py checks
it): the benchmark compares like with like, and any speed kgen loses against it is
overhead of kgen's step.

The references train the family's networks in place (they share the variables) with
optimizers of their own, configured as the family's. They are for timing: a reference step
divides by the local batch, so under several replicas its updates are not the family's.
"""

import keras
import tensorflow as tf
from keras import ops

from kgen.random import resolve_seed


def clone_optimizer(optimizer):
    """A fresh optimizer with `optimizer`'s settings (no slots, iterations at 0)."""
    return keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))


def _with_label(x, labels):
    return x if labels is None else [x, labels]


class ReferenceModel(keras.Model):
    """Base of the references: `Mean` trackers of the losses `loss_names`, and compilation
    like the family's (same XLA setting, same steps per execution)."""

    loss_names = ("loss",)

    def __init__(self, family_model, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = family_model.num_classes
        self.trackers = [keras.metrics.Mean(name=name) for name in self.loss_names]
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers)

    def compile_like(self, family_model, optimizer, variables=None):
        """Compile with `optimizer` (built now for `variables`, by default every trainable
        one) and the family model's XLA and execution settings."""
        self.compile(
            optimizer=optimizer,
            jit_compile=family_model.jit_compile,
            steps_per_execution=family_model.steps_per_execution,
        )
        self.optimizer.build(self.trainable_variables if variables is None else variables)
        return self

    def track(self, **losses):
        for tracker in self.trackers:
            tracker.update_state(losses[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def descend(self, optimizer, variables, tape, loss):
        """One optimizer step on `loss`, recorded on `tape`."""
        gradients = tape.gradient(optimizer.scale_loss(loss), variables)
        optimizer.apply_gradients(zip(gradients, variables))

    def unpack(self, data):
        """(images, labels as int32 for a conditional model, else None) from a batch."""
        if not isinstance(data, dict):
            return data, None
        labels = data.get("label") if self.num_classes else None
        return data["image"], None if labels is None else ops.cast(labels, "int32")


class ReferenceVAE(ReferenceModel):
    """Negative ELBO: encode, reparameterize, decode, likelihood + beta * closed-form KL."""

    def __init__(self, vae, **kwargs):
        super().__init__(vae, **kwargs)
        self.encoder, self.decoder = vae.encoder, vae.decoder
        self.likelihood, self.beta = vae.likelihood, vae.beta
        self.binarize_seed_generator = vae.binarize_seed_generator
        self.eps_seed_generator = vae.sampling.seed_generator
        self.compile_like(vae, clone_optimizer(vae.optimizer))

    def train_step(self, data):
        images, labels = self.unpack(data)
        targets = self.likelihood.targets(images, self.binarize_seed_generator)
        with tf.GradientTape() as tape:
            mean, log_variance = self.encoder(
                _with_label(self.likelihood.encoder_input(images), labels), training=True
            )
            eps = keras.random.normal(
                ops.shape(mean), seed=resolve_seed(None, self.eps_seed_generator)
            )
            z = mean + ops.exp(0.5 * log_variance) * eps
            params = self.decoder(_with_label(z, labels), training=True)
            reconstruction = -self.likelihood.log_prob(targets, params)
            kl = -0.5 * ops.sum(
                1.0 + log_variance - ops.square(mean) - ops.exp(log_variance), axis=-1
            )
            loss = ops.mean(reconstruction + self.beta * kl)
        self.descend(self.optimizer, self.trainable_variables, tape, loss)
        return self.track(loss=loss)


class ReferencePixelCNN(ReferenceModel):
    """Negative log-likelihood of the (binarized) image under the network's outputs."""

    def __init__(self, pixelcnn, **kwargs):
        super().__init__(pixelcnn, **kwargs)
        self.network, self.likelihood = pixelcnn.network, pixelcnn.likelihood
        self.binarize_seed_generator = pixelcnn.binarize_seed_generator
        self.compile_like(pixelcnn, clone_optimizer(pixelcnn.optimizer))

    def train_step(self, data):
        images, labels = self.unpack(data)
        targets = self.likelihood.targets(images, self.binarize_seed_generator)
        with tf.GradientTape() as tape:
            params = self.network(targets, labels=labels, training=True)
            loss = -ops.mean(self.likelihood.log_prob(targets, params))
        self.descend(self.optimizer, self.trainable_variables, tape, loss)
        return self.track(loss=loss)


class ReferenceClassifier(ReferenceModel):
    """Cross-entropy of the labels under the classifier's logits."""

    def __init__(self, classifier, **kwargs):
        super().__init__(classifier, **kwargs)
        self.feature_network, self.head = classifier.feature_network, classifier.head
        self.compile_like(classifier, clone_optimizer(classifier.optimizer))

    def train_step(self, data):
        images, labels = data["image"], data["label"]
        with tf.GradientTape() as tape:
            logits = self.head(self.feature_network(images, training=True), training=True)
            loss = ops.mean(
                keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            )
        self.descend(self.optimizer, self.trainable_variables, tape, loss)
        return self.track(loss=loss)


class ReferenceAdversarial(ReferenceModel):
    """Alternating steps: `d_steps` discriminator steps on real images and fakes generated
    outside the discriminator's tape, then one generator step; one optimizer each.

    The discriminator sees real and fake images in one call unless it has batch norm
    (which would then normalize the two together); subclasses give the losses.
    """

    loss_names = ("d_loss", "g_loss")

    def __init__(self, adversarial, **kwargs):
        super().__init__(adversarial, **kwargs)
        self.generator, self.discriminator = adversarial.generator, adversarial.discriminator
        self.latent_dim, self.d_steps = adversarial.latent_dim, adversarial.d_steps
        self.latent_seed_generator = adversarial.latent_seed_generator
        # How the step calls D is the family's (one call on real and fake images unless D
        # has batch norm; the augmentation policy, if any, on its inputs), not part of what
        # the reference measures against.
        self.real_and_fake_scores = adversarial.real_and_fake_scores
        self.family_score = adversarial.score
        self.d_optimizer = clone_optimizer(adversarial.d_optimizer)
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.compile_like(
            adversarial,
            clone_optimizer(adversarial.g_optimizer),
            self.generator.trainable_variables,
        )

    def scores(self, images, labels):
        return self.family_score(images, labels, training=True)

    def draw_z(self, batch):
        return keras.random.normal(
            (batch, self.latent_dim), seed=resolve_seed(None, self.latent_seed_generator)
        )

    def train_step(self, data):
        images, labels = self.unpack(data)
        real = ops.cast(images, "float32") * 2.0 - 1.0
        batch = ops.shape(real)[0]
        discriminator = self.discriminator.trainable_variables
        d_losses = []  # logged as their mean over the critic steps
        for _ in range(self.d_steps):
            fake = self.generator(_with_label(self.draw_z(batch), labels), training=True)
            with tf.GradientTape() as tape:
                d_loss = self.discriminator_loss(real, fake, labels)
            self.descend(self.d_optimizer, discriminator, tape, d_loss)
            self.after_discriminator_step()
            d_losses.append(d_loss)
        d_loss = ops.mean(ops.stack(d_losses))
        z = self.draw_z(batch)
        with tf.GradientTape() as tape:
            fake = self.generator(_with_label(z, labels), training=True)
            g_loss = self.generator_loss(self.scores(fake, labels))
        self.descend(self.optimizer, self.generator.trainable_variables, tape, g_loss)
        return self.track(d_loss=d_loss, g_loss=g_loss)

    def after_discriminator_step(self):
        pass


class ReferenceGAN(ReferenceAdversarial):
    """Binary cross-entropy on the discriminator's logits (real target 1 - smoothing) or
    the hinge loss; the non-saturating, minimax or hinge generator loss; and the R1
    penalty (gamma / 2) E||grad D(x)||^2 on real images, every `r1_every` steps times
    `r1_every`, when the family has it."""

    def __init__(self, gan, **kwargs):
        self.label_smoothing, self.loss_kind = gan.label_smoothing, gan.generator_loss
        self.r1_weight, self.r1_every = gan.r1_weight, gan.r1_every
        super().__init__(gan, **kwargs)

    def discriminator_loss(self, real, fake, labels):
        real_scores, fake_scores = self.real_and_fake_scores(real, fake, labels, training=True)
        if self.loss_kind == "hinge":
            loss = ops.mean(ops.relu(1.0 - real_scores)) + ops.mean(ops.relu(1.0 + fake_scores))
        else:
            real_target = 1.0 - self.label_smoothing
            loss = ops.mean(
                keras.losses.binary_crossentropy(
                    ops.full_like(real_scores[:, None], real_target),
                    real_scores[:, None],
                    from_logits=True,
                )
                + keras.losses.binary_crossentropy(
                    ops.zeros_like(fake_scores[:, None]), fake_scores[:, None], from_logits=True
                )
            )
        if not self.r1_weight:
            return loss

        def r1():
            with tf.GradientTape() as inner:
                inner.watch(real)
                real_scores = self.scores(real, labels)
            gradients = inner.gradient(real_scores, real)
            return self.r1_every * ops.mean(ops.sum(ops.square(gradients), axis=(1, 2, 3)))

        due = ops.equal(ops.mod(self.d_optimizer.iterations, self.r1_every), 0)
        penalty = r1() if self.r1_every == 1 else ops.cond(due, r1, lambda: 0.0)
        return loss + 0.5 * self.r1_weight * penalty

    def generator_loss(self, fake_scores):
        if self.loss_kind == "hinge":
            return -ops.mean(fake_scores)
        if self.loss_kind == "minimax":
            return -ops.mean(ops.softplus(fake_scores))  # log(1 - D(G(z)))
        return ops.mean(ops.softplus(-fake_scores))  # -log D(G(z))


class ReferenceWGANGP(ReferenceAdversarial):
    """E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)|| - 1)^2] for the critic
    (or weight clipping), -E[D(fake)] for the generator."""

    def __init__(self, wgan, **kwargs):
        self.gp_weight, self.lipschitz, self.clip_value = (
            wgan.gp_weight,
            wgan.lipschitz,
            wgan.clip_value,
        )
        self.alpha_seed_generator = wgan.alpha_seed_generator
        super().__init__(wgan, **kwargs)

    def discriminator_loss(self, real, fake, labels):
        real_scores, fake_scores = self.real_and_fake_scores(real, fake, labels, training=True)
        loss = ops.mean(fake_scores) - ops.mean(real_scores)
        if self.lipschitz != "gradient-penalty":
            return loss
        alpha = keras.random.uniform(
            (ops.shape(real)[0],), seed=resolve_seed(None, self.alpha_seed_generator)
        )
        alpha = ops.reshape(alpha, (-1, 1, 1, 1))
        x_hat = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as inner:
            inner.watch(x_hat)
            hat_scores = self.scores(x_hat, labels)
        gradients = inner.gradient(hat_scores, x_hat)
        norms = ops.sqrt(ops.sum(ops.square(gradients), axis=(1, 2, 3)) + 1e-12)
        return loss + self.gp_weight * ops.mean(ops.square(norms - 1.0))

    def after_discriminator_step(self):
        if self.lipschitz == "clip":
            for weight in self.discriminator.trainable_variables:
                weight.assign(ops.clip(weight, -self.clip_value, self.clip_value))

    def generator_loss(self, fake_scores):
        return -ops.mean(fake_scores)
