"""The yardstick of `kgen bench --reference`: each family's minimal reference step computes
the family's own losses, so the benchmark compares like with like."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import SMALL_PIXELCNN_INFO
from helpers import SMALL_SETTINGS
from helpers import binary_batch

from kgen.models import GAN
from kgen.models import get_family
from kgen.models.adversarial import AdversarialModel
from kgen.networks import build_discriminator

CASES = {
    "vae": ("vae", {}),
    "vae-logistic": ("vae", {"likelihood": "logistic"}),
    "pixelcnn": ("pixelcnn", {}),
    "gan": ("gan", {}),  # batch norm in D: real and fake scored in two calls
    "gan-no-norm-minimax": ("gan", {"loss": "minimax"}),  # D without batch norm: one call
    "gan-label-smoothing-2-steps": ("gan", {"label_smoothing": 0.1, "d_steps": 2}),
    "gan-hinge-spectral-norm-augment-r1": (
        "gan",
        {
            "loss": "hinge",
            "spectral_norm": True,
            "augment": "color,translation,cutout",
            "r1_weight": 1.0,
        },
    ),
    "gan-lazy-r1-2-steps": ("gan", {"r1_weight": 2.0, "r1_every": 2, "d_steps": 2}),
    "gan-dense-layers": ("gan", {"mapping_layers": 2, "mapping_units": 16, "d_hidden_units": 16}),
    "wgan-gp": ("wgan-gp", {"d_steps": 2}),
    "wgan-clip": ("wgan-gp", {"d_steps": 2, "lipschitz": "clip"}),
    "wgan-gp-augment": ("wgan-gp", {"d_steps": 2, "augment": "translation,cutout"}),
    "classifier": ("classifier", {}),
}


def _build(case, conditional):
    name, overrides = CASES[case]
    family = get_family(name)
    if name == "classifier":
        config = family.config_class(base_filters=8, feature_units=16)
    else:
        settings = {**SMALL_SETTINGS[name], **overrides, "conditional": conditional}
        config = family.config_class(**settings)
    info = SMALL_PIXELCNN_INFO if name == "pixelcnn" else MNIST_INFO
    model = family.build(config, info, seed=3)
    if case == "gan-no-norm-minimax":  # the same GAN with a discriminator without batch norm
        discriminator = build_discriminator(
            info.image_shape,
            base_filters=8,
            normalization="none",
            num_classes=10 if conditional else None,
        )
        model = GAN(
            model.generator, discriminator, loss="minimax", seed=3, num_classes=model.num_classes
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(2e-4), g_optimizer=keras.optimizers.Adam(2e-4)
        )
    return model, info


@pytest.mark.parametrize("conditional", [False, True], ids=["unconditional", "conditional"])
@pytest.mark.parametrize("case", list(CASES))
def test_reference_step_computes_the_familys_losses_and_update(case, conditional):
    if case == "classifier" and conditional:
        pytest.skip("the classifier is never conditional")
    model, info = _build(case, conditional)
    # Plain SGD, so that the updates compare to float rounding: Adam's first step
    # g / (|g| + eps) turns a last-bit difference in a near-zero gradient (summation order,
    # which oneDNN's kernels vary) into a step of either sign at full size.
    if isinstance(model, AdversarialModel):
        model.compile(
            d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05)
        )
    else:
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    reference = model.reference_model()
    images, labels = binary_batch(8, info.image_shape)
    if CASES[case][1].get("likelihood") == "logistic":
        images = np.random.default_rng(1).integers(0, 256, images.shape).astype("float32") / 255
    batch = {"image": tf.constant(images), "label": tf.constant(labels, tf.int64)}
    # Same weights and random generator states before each step; fresh optimizers both.
    start = [variable.numpy() for variable in model.variables]
    ours = model.train_step(batch)
    ours_weights = [variable.numpy() for variable in reference.trainable_variables]
    for variable, value in zip(model.variables, start):
        variable.assign(value)
    theirs = reference.train_step(batch)
    assert reference.loss_names and set(reference.loss_names) <= set(ours)
    for name in reference.loss_names:
        np.testing.assert_allclose(float(theirs[name]), float(ours[name]), rtol=2e-6, atol=1e-6)
    # The update too: the same gradients (up to summation order) through the same optimizer.
    for after_ours, variable in zip(ours_weights, reference.trainable_variables):
        np.testing.assert_allclose(variable.numpy(), after_ours, rtol=1e-4, atol=1e-6)
    assert not np.array_equal(ours_weights[0], start_of(model, reference, start)[0])


def start_of(model, reference, start):
    """The starting values of the reference's trainable variables (a subset of the model's)."""
    by_id = {id(variable): value for variable, value in zip(model.variables, start)}
    return [by_id[id(variable)] for variable in reference.trainable_variables]


@pytest.mark.parametrize("normalization", ["layer", "none"])
def test_one_discriminator_call_scores_like_two_without_batch_norm(normalization):
    model, _ = _build("wgan-gp" if normalization == "layer" else "gan-no-norm-minimax", True)
    assert not model.score_separately
    images, labels = binary_batch(8)
    real, fake = tf.constant(images * 2 - 1), model.fake(model.draw_latent(8), labels)
    together = model.real_and_fake_scores(real, fake, labels, training=True)
    apart = (model.score(real, labels, True), model.score(fake, labels, True))
    for joint, alone in zip(together, apart):
        np.testing.assert_allclose(joint.numpy(), alone.numpy(), rtol=1e-5, atol=1e-6)


def test_batch_norm_discriminators_score_real_and_fake_apart():
    model, _ = _build("gan", conditional=False)
    assert model.score_separately
