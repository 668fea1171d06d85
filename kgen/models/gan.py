"""GAN: a generator G(z) against a discriminator D(x), trained in alternating steps.

D learns to tell data from G's samples (a logistic classifier on its score s, D = sigmoid(s));
G learns to make D call its samples real. The original minimax objective gives G the loss
log(1 - D(G(z))), whose gradient vanishes exactly when D confidently rejects G's samples (at
the start of training); the non-saturating loss -log D(G(z)) has the same fixed point and a
strong gradient there, which is why it is the default.
"""

import keras
from keras import ops

from kgen.models.adversarial import AdversarialModel
from kgen.models.reference_steps import ReferenceGAN

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
class GAN(AdversarialModel):
    """A GAN (DCGAN by default networks) over images in [0, 1], optionally class-conditional.

    Its discriminator is a logistic classifier of data against samples; the training step,
    the generator's moving average and sampling are `AdversarialModel`'s.

    Args:
        generator, discriminator, d_steps, ema_decay, num_classes, seed: as for
            `AdversarialModel`.
        loss: generator loss, "non-saturating" or "minimax".
        label_smoothing: one-sided label smoothing of the real targets, in [0, 1).
    """

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
        if loss not in GENERATOR_LOSSES:
            raise ValueError(f"`loss` must be one of {GENERATOR_LOSSES}. Received: loss={loss!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing}")
        super().__init__(
            generator,
            discriminator,
            d_steps=d_steps,
            ema_decay=ema_decay,
            num_classes=num_classes,
            seed=seed,
            **kwargs,
        )
        # Not `self.loss`: keras.Model.compile owns that attribute and would overwrite it.
        self.generator_loss = loss
        self.label_smoothing = float(label_smoothing)

    def discriminator_terms(self, real, labels, z, training=False):
        """Per-example discriminator loss, and D(x), D(G(z)) as probabilities; `real` in [-1, 1]."""
        fake = self.fake(z, labels, training)
        real_scores, fake_scores = self.real_and_fake_scores(real, fake, labels, training)
        return {
            "d_loss": discriminator_loss(real_scores, fake_scores, self.label_smoothing),
            "d_real": ops.sigmoid(real_scores),
            "d_fake": ops.sigmoid(fake_scores),
        }

    def generator_terms(self, labels, z, training=False):
        fake_scores = self.score(self.fake(z, labels, training), labels, training)
        return {"g_loss": generator_loss(fake_scores, self.generator_loss)}

    def reference_model(self):
        return ReferenceGAN(self)

    def get_config(self):
        return self.adversarial_config(
            loss=self.generator_loss, label_smoothing=self.label_smoothing
        )
