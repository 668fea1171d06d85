"""DCGAN-style generator and discriminator/critic: sizes, channels, labels, normalization."""

import keras
import numpy as np
import pytest

from kgen.errors import ConfigError
from kgen.networks import build_discriminator
from kgen.networks import build_generator

# Backend-agnostic: also run under JAX by tests/test_backends.py.
pytestmark = pytest.mark.backends

to_numpy = keras.ops.convert_to_numpy


# Under JAX one shape, colour, of the three: the others add no path it lacks, and each costs
# seconds of compiling there.
SHAPES = [(28, 28, 1), (32, 32, 3), (64, 64, 3)]
if keras.backend.backend() == "jax":
    SHAPES = [(32, 32, 3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("num_classes", [None, 10])
@pytest.mark.parametrize("dense", [0, 1], ids=["convolutional", "with-dense-layers"])
def test_generator_makes_images_in_range_and_discriminator_one_score(shape, num_classes, dense):
    generator = build_generator(
        shape, 16, base_filters=8, num_classes=num_classes, mapping_layers=2 * dense
    )
    critic = build_discriminator(
        shape,
        base_filters=8,
        normalization="layer",
        num_classes=num_classes,
        hidden_units=32 * dense,
    )
    z = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    labels = np.array([0, 4, 9]) if num_classes else None
    images = to_numpy(generator([z, labels] if num_classes else z))
    assert images.shape == (3,) + shape and images.dtype == np.float32
    assert np.abs(images).max() <= 1.0
    scores = critic([images, labels] if num_classes else images)
    assert scores.shape == (3, 1) and scores.dtype == "float32"


def test_layer_normalized_critic_scores_each_image_alone():
    # The gradient penalty is per example, so no example may change another one's score.
    critic = build_discriminator((28, 28, 1), base_filters=8, normalization="layer")
    images = np.random.default_rng(1).uniform(-1, 1, size=(4, 28, 28, 1)).astype("float32")
    alone = to_numpy(critic(images[:1], training=True))
    together = to_numpy(critic(images, training=True))[:1]
    np.testing.assert_allclose(alone, together, rtol=1e-5, atol=1e-6)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in critic.layers)


def test_conditional_generator_uses_the_label():
    generator = build_generator((28, 28, 1), 16, base_filters=8, num_classes=10)
    z = np.zeros((2, 16), "float32")
    a = to_numpy(generator([z, np.array([0, 0])]))
    b = to_numpy(generator([z, np.array([0, 7])]))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[1], b[1])


def test_bad_normalization_and_size_are_clear_errors():
    with pytest.raises(ConfigError, match="'group'"):
        build_discriminator((28, 28, 1), normalization="group")
    with pytest.raises(ConfigError, match="Image size 12"):
        build_generator((12, 12, 1), 16)


def test_a_conditional_discriminator_judges_the_label_against_the_image():
    # With the label only concatenated before the linear score, s(x, 0) - s(x, 1) would be
    # one constant for every image: D could not tell a 3 labelled 8 from a 3.
    discriminator = build_discriminator((28, 28, 1), base_filters=8, num_classes=10)
    embedding = discriminator.get_layer("label_projection").embeddings
    embedding.assign(np.random.default_rng(1).normal(size=embedding.shape).astype("float32"))
    images = np.random.default_rng(0).uniform(-1, 1, (4, 28, 28, 1)).astype("float32")
    gap = (
        to_numpy(discriminator([images, np.zeros(4, "int32")]))
        - to_numpy(discriminator([images, np.ones(4, "int32")]))
    ).ravel()
    assert np.ptp(gap) > 1e-2 * np.abs(gap).max()


def test_mapping_layers_and_the_hidden_layer_sit_where_they_are_asked_for():
    generator = build_generator((28, 28, 1), 16, base_filters=8, mapping_layers=2, mapping_units=24)
    dense = [layer for layer in generator.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [24, 24, 7 * 7 * 16]  # then the projection
    assert dense[0].kernel.shape == (16, 24)
    plain = build_generator((28, 28, 1), 16, base_filters=8)
    assert [type(layer) for layer in plain.layers if isinstance(layer, keras.layers.Dense)] == [
        keras.layers.Dense
    ]
    for normalization, norm_type in (
        ("batch", keras.layers.BatchNormalization),
        ("layer", keras.layers.LayerNormalization),
    ):
        critic = build_discriminator(
            (28, 28, 1), base_filters=8, normalization=normalization, hidden_units=32
        )
        dense = [layer for layer in critic.layers if isinstance(layer, keras.layers.Dense)]
        assert [layer.units for layer in dense] == [32, 1]  # the hidden layer, then the score
        after_hidden = critic.layers[critic.layers.index(dense[0]) + 1]
        assert isinstance(after_hidden, norm_type)
    spectral = build_discriminator(
        (28, 28, 1), base_filters=8, normalization="none", spectral_norm=True, hidden_units=32
    )
    wrapped = [
        layer.layer.units
        for layer in spectral.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
        and isinstance(layer.layer, keras.layers.Dense)
    ]
    assert wrapped == [32, 1]
