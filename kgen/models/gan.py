"""GAN: a generator G(z) against a discriminator D(x), trained in alternating steps.

D learns to tell data from G's samples; G learns to make D call its samples real. Three
objectives:

- "non-saturating": D is a logistic classifier on its score s (D = sigmoid(s)); G minimizes
  -log D(G(z)). The original "minimax" objective gives G the loss log(1 - D(G(z))), whose
  gradient vanishes exactly when D confidently rejects G's samples (at the start of
  training); the non-saturating loss has the same fixed point and a strong gradient there.
- "hinge" (Lim & Ye 2017; Miyato et al. 2018): D minimizes max(0, 1 - s(x)) +
  max(0, 1 + s(G(z))), a margin classifier that stops pushing a score once it is past the
  margin; G minimizes -s(G(z)).

The R1 penalty (Mescheder et al. 2018) adds (gamma / 2) ||grad_x s(x)||^2 at real images to
D's loss: D's score stays flat around the data, which is what lets the alternating steps
converge instead of circling. Computed every `r1_every` steps only ("lazy", as StyleGAN2),
it is then scaled by `r1_every`, so that its average weight stays gamma.
"""

import keras
from keras import ops

from kgen.models.adversarial import AdversarialModel
from kgen.models.adversarial import squared_norms
from kgen.models.steps import backend_steps

GENERATOR_LOSSES = ("non-saturating", "minimax")
LOSSES = (*GENERATOR_LOSSES, "hinge")


def discriminator_loss(real_scores, fake_scores, label_smoothing=0.0):
    """Per-example -log D(x) - log(1 - D(G(z))), from scores (logits).

    One-sided label smoothing makes the target of real images 1 - label_smoothing; fake
    images keep target 0 (smoothing those would reward G's mistakes).
    """
    real_target = 1.0 - label_smoothing
    # Binary cross-entropy with logits, written stably: softplus(s) - target * s.
    return ops.softplus(real_scores) - real_target * real_scores + ops.softplus(fake_scores)


def hinge_discriminator_loss(real_scores, fake_scores):
    """Per-example max(0, 1 - s(x)) + max(0, 1 + s(G(z))), from scores."""
    return ops.relu(1.0 - real_scores) + ops.relu(1.0 + fake_scores)


def generator_loss(fake_scores, loss="non-saturating"):
    """Per-example generator loss: -log D(G(z)) (non-saturating), log(1 - D(G(z)))
    (minimax), or -s(G(z)) (hinge)."""
    if loss == "non-saturating":
        return ops.softplus(-fake_scores)
    if loss == "minimax":
        return -ops.softplus(fake_scores)
    if loss == "hinge":
        return -fake_scores
    raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")


@keras.saving.register_keras_serializable(package="kgen")
class GAN(AdversarialModel):
    """A GAN (DCGAN by default networks) over images in [0, 1], optionally class-conditional.

    Its discriminator is a logistic (or, with the hinge loss, a margin) classifier of data
    against samples; the training step, the generator's moving average and sampling are
    `AdversarialModel`'s.

    Logged: "d_loss", "g_loss"; "d_real" and "d_fake", D's mean verdict on real and fake
    images (sigmoid(s), a probability, for the logistic losses; the score s itself for the
    hinge loss, whose margins are at -1 and +1); and "r1_penalty" (the squared input-gradient
    norm, times `r1_every` on the steps that compute it) when `r1_weight` > 0. The
    discriminator's are means over the `d_steps` discriminator steps of a generator step.

    Args:
        generator, discriminator, d_steps, ema_decay, augment, num_classes, seed: as for
            `AdversarialModel`.
        loss: "non-saturating", "minimax" or "hinge" (see the module's docstring).
        label_smoothing: one-sided label smoothing of the real targets, in [0, 1); logistic
            losses only.
        r1_weight: gamma of the R1 penalty (0: none).
        r1_every: compute the R1 penalty every this many discriminator steps, scaled by it.
    """

    def __init__(
        self,
        generator,
        discriminator,
        loss="non-saturating",
        d_steps=1,
        label_smoothing=0.0,
        r1_weight=0.0,
        r1_every=1,
        ema_decay=0.999,
        augment="none",
        num_classes=None,
        seed=None,
        **kwargs,
    ):
        if loss not in LOSSES:
            raise ValueError(f"`loss` must be one of {LOSSES}. Received: loss={loss!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: {label_smoothing}")
        if loss == "hinge" and label_smoothing:
            raise ValueError(
                "`label_smoothing` smooths the logistic losses' targets; the hinge loss has "
                f"none. Received: label_smoothing={label_smoothing} with loss='hinge'"
            )
        if r1_weight < 0:
            raise ValueError(f"`r1_weight` must be non-negative. Received: {r1_weight}")
        if not isinstance(r1_every, int) or r1_every < 1:
            raise ValueError(f"`r1_every` must be an int of at least 1. Received: {r1_every!r}")
        # Read by `metric_names` while AdversarialModel.__init__ makes the trackers.
        self.r1_weight = float(r1_weight)
        self.r1_every = r1_every
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
        # Not `self.loss`: keras.Model.compile owns that attribute and would overwrite it.
        self.generator_loss = loss
        self.label_smoothing = float(label_smoothing)

    @property
    def metric_names(self):
        names = ("d_loss", "g_loss", "d_real", "d_fake")
        return (*names, "r1_penalty") if self.r1_weight else names

    def discriminator_terms(self, real, labels, z, training=False):
        """Per-example discriminator loss, D's verdicts on real and fake images, and the R1
        penalty when it is on; `real` in [-1, 1]."""
        fake = self.fake(z, labels, training)
        real_scores, fake_scores = self.real_and_fake_scores(real, fake, labels, training)
        if self.generator_loss == "hinge":
            terms = {
                "d_loss": hinge_discriminator_loss(real_scores, fake_scores),
                "d_real": real_scores,
                "d_fake": fake_scores,
            }
        else:
            terms = {
                "d_loss": discriminator_loss(real_scores, fake_scores, self.label_smoothing),
                "d_real": ops.sigmoid(real_scores),
                "d_fake": ops.sigmoid(fake_scores),
            }
        if self.r1_weight:
            terms["r1_penalty"] = self.r1_penalty(real, labels, training)
            terms["d_loss"] = terms["d_loss"] + 0.5 * self.r1_weight * terms["r1_penalty"]
        return terms

    def r1_penalty(self, real, labels=None, training=False):
        """Per-example ||grad_x s(x)||^2 at the real images, times `r1_every` on the
        discriminator steps that compute it (every `r1_every`-th, counted by the
        discriminator optimizer's iterations) and 0 on the others."""

        def penalty():
            gradients = self.score_input_gradients(real, labels, training)
            return float(self.r1_every) * squared_norms(gradients)

        if self.r1_every == 1:
            return penalty()
        due = ops.equal(ops.mod(self.d_optimizer.iterations, self.r1_every), 0)
        return backend_steps().cond(
            due, penalty, lambda: ops.zeros((ops.shape(real)[0],), "float32")
        )

    def generator_terms(self, labels, z, training=False):
        fake_scores = self.score(self.fake(z, labels, training), labels, training)
        return {"g_loss": generator_loss(fake_scores, self.generator_loss)}

    def reference_model(self):
        from kgen.models.reference_steps import ReferenceGAN  # TensorFlow's: imported on use

        return ReferenceGAN(self)

    def get_config(self):
        return self.adversarial_config(
            loss=self.generator_loss,
            label_smoothing=self.label_smoothing,
            r1_weight=self.r1_weight,
            r1_every=self.r1_every,
        )
