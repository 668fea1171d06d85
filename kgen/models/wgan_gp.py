"""WGAN-GP: a critic estimating the Wasserstein-1 distance, kept 1-Lipschitz by a gradient
penalty (Gulrajani et al. 2017) or, as an option, by weight clipping (Arjovsky et al. 2017)."""

import keras
from keras import ops

from kgen.models.adversarial import AdversarialModel
from kgen.models.adversarial import squared_norms
from kgen.random import resolve_seed
from kgen.random import sub_seed

LIPSCHITZ_METHODS = ("gradient-penalty", "clip")
# Inside the square root of the penalty's norm: the norm of a zero gradient is then
# sqrt(eps) instead of 0, whose derivative (x / ||x||) would be 0/0 = NaN.
_NORM_EPSILON = 1e-12


def gradient_penalty(gradients):
    """Per-example (||gradient||_2 - 1)^2, in float32, with a norm that is never NaN at zero."""
    return ops.square(ops.sqrt(squared_norms(gradients) + _NORM_EPSILON) - 1.0)


def interpolate(real, fake, alpha):
    """x_hat = alpha * real + (1 - alpha) * fake, with one alpha per example ([N])."""
    alpha = ops.reshape(alpha, (-1,) + (1,) * (len(real.shape) - 1))
    return alpha * real + (1.0 - alpha) * fake


@keras.saving.register_keras_serializable(package="kgen")
class WGANGP(AdversarialModel):
    """Wasserstein GAN with gradient penalty.

    The critic minimises E[D(fake)] - E[D(real)] + lambda * E[(||grad D(x_hat)||_2 - 1)^2],
    x_hat = alpha * real + (1 - alpha) * fake, alpha ~ U(0, 1) drawn for each example; the
    generator minimises -E[D(fake)]. `wasserstein` (E[D(real)] - E[D(fake)]) estimates the
    distance the critic sees. With `lipschitz="clip"` the critic's weights are clipped to
    [-clip_value, clip_value] after each step instead (the original WGAN).

    Args:
        generator, discriminator: as for `AdversarialModel`; the critic must not use batch
            norm (the penalty is per example).
        gp_weight: lambda.
        d_steps: critic steps per generator step (5 by default).
        lipschitz: "gradient-penalty" or "clip".
        clip_value: the weight bound under "clip".
        ema_decay, augment, num_classes, seed: as for `AdversarialModel`.
    """

    metric_names = ("d_loss", "g_loss", "d_real", "d_fake", "wasserstein", "gradient_penalty")

    def __init__(
        self,
        generator,
        discriminator,
        gp_weight=10.0,
        d_steps=5,
        lipschitz="gradient-penalty",
        clip_value=0.01,
        ema_decay=0.999,
        augment="none",
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(
            generator,
            discriminator,
            d_steps=d_steps,
            ema_decay=ema_decay,
            augment=augment,
            num_classes=num_classes,
            seed=seed,
            **kwargs,
        )
        if gp_weight < 0:
            raise ValueError(f"`gp_weight` must be non-negative. Received: gp_weight={gp_weight}")
        if lipschitz not in LIPSCHITZ_METHODS:
            raise ValueError(
                f"`lipschitz` must be one of {LIPSCHITZ_METHODS}. Received: {lipschitz!r}"
            )
        self.gp_weight = float(gp_weight)
        self.lipschitz = lipschitz
        self.clip_value = float(clip_value)
        self.alpha_seed_generator = keras.random.SeedGenerator(sub_seed(seed, 2), name="alpha_seed")

    def draw_alpha(self, num):
        """alpha ~ U(0, 1), one per example (a uniform, not a normal); each replica draws
        its own (see `kgen.random.resolve_seed`)."""
        return keras.random.uniform((num,), seed=resolve_seed(None, self.alpha_seed_generator))

    def discriminator_terms(self, real, labels, z, training=False):
        fake = self.fake(z, labels, training)
        real_scores, fake_scores = self.real_and_fake_scores(real, fake, labels, training)
        terms = {
            "d_real": real_scores,
            "d_fake": fake_scores,
            "wasserstein": real_scores - fake_scores,
        }
        loss = fake_scores - real_scores
        if self.lipschitz == "gradient-penalty":
            x_hat = interpolate(real, fake, self.draw_alpha(ops.shape(real)[0]))
            terms["gradient_penalty"] = gradient_penalty(
                self.score_input_gradients(x_hat, labels, training)
            )
            loss = loss + self.gp_weight * terms["gradient_penalty"]
        else:
            terms["gradient_penalty"] = ops.zeros_like(loss)
        terms["d_loss"] = loss
        return terms

    def generator_terms(self, labels, z, training=False):
        return {"g_loss": -self.score(self.fake(z, labels, training), labels, training)}

    def after_discriminator_step(self):
        """Weight clipping (lipschitz="clip"): keep every critic weight in [-c, c]."""
        if self.lipschitz != "clip":
            return
        for weight in self.discriminator.trainable_variables:
            weight.assign(ops.clip(weight, -self.clip_value, self.clip_value))

    def reference_model(self):
        from kgen.models.reference_steps import ReferenceWGANGP  # TensorFlow's: imported on use

        return ReferenceWGANGP(self)

    def get_config(self):
        return self.adversarial_config(
            gp_weight=self.gp_weight, lipschitz=self.lipschitz, clip_value=self.clip_value
        )
