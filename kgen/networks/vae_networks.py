"""Encoder and decoder networks for the VAE: convolutional or MLP, optionally class-conditional.

The encoder maps an image (and a one-hot label when conditional) to the mean and log-variance
of q(z | x); the decoder maps z (and the label) to the parameters of p(x | z), with
`params_per_channel` outputs per image channel, as the likelihood asks.
"""

import keras
from keras import layers

from kgen.errors import ConfigError
from kgen.layers import Conv2DTranspose
from kgen.networks.common import append_label
from kgen.networks.common import check_square
from kgen.networks.common import downsampling_steps
from kgen.networks.common import label_input


def build_vae_encoder(
    image_shape,
    latent_dim,
    *,
    architecture="conv",
    base_filters=32,
    hidden_units=512,
    num_classes=None,
):
    """q(z | x[, y]): a functional model from image (and label) to (mean, log_variance)."""
    check_square(image_shape)
    image, label = keras.Input(shape=image_shape, name="image"), label_input(num_classes)
    if architecture == "conv":
        x = image
        for stage in range(downsampling_steps(image_shape[0])):
            filters = base_filters * 2**stage
            x = layers.Conv2D(filters, 4, strides=2, padding="same", activation="relu")(x)
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Flatten()(x)
    elif architecture == "mlp":
        x = layers.Flatten()(image)
        x = layers.Dense(hidden_units, activation="relu")(x)
    else:
        raise ConfigError(f"Unknown architecture {architecture!r}; use 'conv' or 'mlp'.")
    x = layers.Dense(hidden_units, activation="relu")(append_label(x, label, num_classes))
    # Heads in float32 so that mixed precision never rounds the posterior parameters.
    mean = layers.Dense(latent_dim, dtype="float32", name="mean")(x)
    log_variance = layers.Dense(latent_dim, dtype="float32", name="log_variance")(x)
    inputs = [image, label] if num_classes else image
    return keras.Model(inputs, [mean, log_variance], name="encoder")


def build_vae_decoder(
    image_shape,
    latent_dim,
    params_per_channel,
    *,
    architecture="conv",
    base_filters=32,
    hidden_units=512,
    num_classes=None,
):
    """p(x | z[, y]): a functional model from z (and label) to likelihood parameters."""
    check_square(image_shape)
    height, width, channels = image_shape
    z = keras.Input(shape=(latent_dim,), name="z")
    label = label_input(num_classes)
    x = layers.Dense(hidden_units, activation="relu")(append_label(z, label, num_classes))
    out_channels = channels * params_per_channel
    if architecture == "conv":
        steps = downsampling_steps(height)
        size = height // 2**steps
        top_filters = base_filters * 2 ** (steps - 1)
        x = layers.Dense(size * size * top_filters, activation="relu")(x)
        x = layers.Reshape((size, size, top_filters))(x)
        for stage in reversed(range(steps)):
            filters = base_filters * 2**stage
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu")(x)
        params = layers.Conv2D(out_channels, 3, padding="same", dtype="float32")(x)
    elif architecture == "mlp":
        x = layers.Dense(hidden_units, activation="relu")(x)
        x = layers.Dense(height * width * out_channels, dtype="float32")(x)
        params = layers.Reshape((height, width, out_channels), dtype="float32")(x)
    else:
        raise ConfigError(f"Unknown architecture {architecture!r}; use 'conv' or 'mlp'.")
    inputs = [z, label] if num_classes else z
    return keras.Model(inputs, params, name="decoder")
