"""DCGAN-style generator and discriminator/critic networks, optionally class-conditional.

Radford et al. (2015): the generator grows a dense projection of z through stride-2
transposed convolutions with batch norm and ReLU to a tanh image; the discriminator shrinks
the image through stride-2 convolutions with LeakyReLU to one logit (a score, for a critic).
Images inside these networks are in [-1, 1]. Sizes whose side halves at least twice (28,
32, 64) work, with 1 or 3 channels. Batch norm is synchronized across replicas, so that a
step on 2 replicas normalizes by the same global-batch statistics as a step on one device.
"""

import keras
from keras import layers

from kgen.errors import ConfigError
from kgen.layers import Conv2DTranspose
from kgen.networks.common import append_label
from kgen.networks.common import check_square
from kgen.networks.common import downsampling_steps
from kgen.networks.common import label_input
from kgen.networks.common import replica_batch_norm

NORMALIZATIONS = ("batch", "layer", "none")


def _batch_norm_relu(x):
    """The generator's activation: synchronized batch norm, then ReLU."""
    return layers.ReLU()(replica_batch_norm()(x))


def _normalized(x, normalization):
    """`x` through the discriminator's `normalization`: synchronized batch norm, layer norm
    over each example's every axis (a feature map's or a dense layer's), or nothing."""
    if normalization == "batch":
        return replica_batch_norm()(x)
    if normalization == "layer":
        return layers.LayerNormalization(axis=list(range(1, len(x.shape))))(x)
    return x


def build_generator(
    image_shape,
    latent_dim,
    *,
    base_filters=64,
    num_classes=None,
    mapping_layers=0,
    mapping_units=256,
):
    """G(z[, y]): a functional model from z (and label) to an image in [-1, 1].

    `mapping_layers` dense layers of `mapping_units` (each with batch norm and ReLU) map z
    before its projection to the first feature map. Without them that projection is linear,
    so G must reach every mode of the data from one linear map of a Gaussian, and the images
    between two modes (a 3 turning into an 8) are malformed; the nonlinear layers let G send
    most of z's mass to the modes themselves.
    """
    check_square(image_shape)
    size, channels = image_shape[0], image_shape[-1]
    steps = downsampling_steps(size)
    start = size // 2**steps
    z = keras.Input(shape=(latent_dim,), name="z")
    label = label_input(num_classes)
    top_filters = base_filters * 2 ** (steps - 1)
    x = append_label(z, label, num_classes)
    for _ in range(mapping_layers):
        x = layers.Dense(mapping_units, use_bias=False)(x)
        x = _batch_norm_relu(x)
    x = layers.Dense(start * start * top_filters, use_bias=False)(x)
    x = _batch_norm_relu(x)
    x = layers.Reshape((start, start, top_filters))(x)
    for stage in reversed(range(steps - 1)):
        filters = base_filters * 2**stage
        x = Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False)(x)
        x = _batch_norm_relu(x)
    # The last upsampling gives the image itself; float32 so that tanh is never rounded.
    image = Conv2DTranspose(
        channels, 4, strides=2, padding="same", activation="tanh", dtype="float32", name="image"
    )(x)
    inputs = [z, label] if num_classes else z
    return keras.Model(inputs, image, name="generator")


def build_discriminator(
    image_shape,
    *,
    base_filters=64,
    normalization="batch",
    num_classes=None,
    spectral_norm=False,
    hidden_units=0,
):
    """D(x[, y]): a functional model from an image in [-1, 1] (and label) to one logit or
    critic score per image.

    `normalization` is "batch" (DCGAN), "layer" (per example over each feature map: what a
    WGAN-GP critic needs, since its penalty is per example and batch norm mixes examples)
    or "none". The first convolution is never normalized, as in DCGAN. With `hidden_units`
    > 0 a dense layer of that many units (normalized likewise, then LeakyReLU) reads the
    flattened features before the score, as in InfoGAN's MNIST discriminator.

    A conditional D projects: its score is a dense score of the image's features plus the
    inner product of those features with a learned embedding of the label.

    `spectral_norm` wraps every convolution and the final dense layer in
    `keras.layers.SpectralNormalization` (Miyato et al. 2018): each training call divides
    the kernel by an estimate of its largest singular value (one power iteration per call,
    its vector kept between calls), so every layer, and D, stays about 1-Lipschitz.
    """
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"Unknown normalization {normalization!r}; use one of {NORMALIZATIONS}.")
    check_square(image_shape)

    def wrap(layer, **kwargs):
        return layers.SpectralNormalization(layer, **kwargs) if spectral_norm else layer

    image, label = keras.Input(shape=image_shape, name="image"), label_input(num_classes)
    x = image
    for stage in range(downsampling_steps(image_shape[0])):
        x = wrap(layers.Conv2D(base_filters * 2**stage, 4, strides=2, padding="same"))(x)
        if stage > 0:  # the first convolution is never normalized
            x = _normalized(x, normalization)
        x = layers.LeakyReLU(0.2)(x)
    features = layers.Flatten()(x)
    if hidden_units:
        features = wrap(layers.Dense(hidden_units))(features)
        features = layers.LeakyReLU(0.2)(_normalized(features, normalization))
    # The wrapper casts its output to its input's dtype: float32 here too, as the score's.
    score = wrap(layers.Dense(1, dtype="float32", name="score"), dtype="float32")(features)
    if num_classes:
        # Projection (Miyato & Koyama 2018): score + <embed(y), features>. A one-hot label
        # concatenated to the features before the (linear) score would only add a bias per
        # class, independent of the image, so D could not tell a 3 labelled 8 from a 3.
        # Not spectrally normalized: Keras's wrapper casts its output to its input's dtype,
        # which for an embedding is the labels' int32.
        embedded = layers.Embedding(
            num_classes, features.shape[-1], dtype="float32", name="label_projection"
        )(label)
        projection = layers.Dot(axes=1, dtype="float32")([embedded, features])
        score = layers.Add(dtype="float32")([score, projection])
    inputs = [image, label] if num_classes else image
    return keras.Model(inputs, score, name="discriminator")
