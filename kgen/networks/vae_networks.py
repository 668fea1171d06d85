"""Encoder and decoder networks for the VAE: convolutional or MLP, optionally class-conditional.

The encoder maps an image (and a one-hot label when conditional) to the mean and log-variance
of q(z | x); the decoder maps z (and the label) to the parameters of p(x | z), with
`params_per_channel` outputs per image channel, as the likelihood asks.
"""

import keras
from keras import layers

from kgen.errors import ConfigError

_SMALLEST_FEATURE_MAP = 8  # stop halving once the map is this small (28 -> 7, 32 -> 8, 64 -> 8)


def downsampling_steps(image_size):
    """How many stride-2 stages take a square image to a feature map of at most 8 pixels."""
    steps, size = 0, image_size
    while size > _SMALLEST_FEATURE_MAP and size % 2 == 0:
        size, steps = size // 2, steps + 1
    if steps < 2:
        raise ConfigError(
            f"Image size {image_size} is not supported by the convolutional networks: it must "
            "be halved at least twice (28, 32 and 64 work). Pass --image-size 28, 32 or 64, or "
            "choose --architecture mlp."
        )
    return steps


def _check_square(image_shape):
    if image_shape[0] != image_shape[1]:
        raise ConfigError(
            f"Images of {image_shape[0]}x{image_shape[1]} pixels are not square; the networks "
            "need square images. Pass --image-size N to centre-crop and resize them."
        )


def _label_input(num_classes):
    """The class-label input of a conditional network, or None."""
    return keras.Input(shape=(), dtype="int32", name="label") if num_classes else None


def _append_label(x, label, num_classes):
    """Concatenate the one-hot label to the features `x` when the network is conditional."""
    if not num_classes:
        return x
    return layers.Concatenate()([x, layers.CategoryEncoding(num_classes, "one_hot")(label)])


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
    _check_square(image_shape)
    image, label = keras.Input(shape=image_shape, name="image"), _label_input(num_classes)
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
    x = layers.Dense(hidden_units, activation="relu")(_append_label(x, label, num_classes))
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
    _check_square(image_shape)
    height, width, channels = image_shape
    z = keras.Input(shape=(latent_dim,), name="z")
    label = _label_input(num_classes)
    x = layers.Dense(hidden_units, activation="relu")(_append_label(z, label, num_classes))
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
            x = layers.Conv2DTranspose(
                filters, 4, strides=2, padding="same", activation="relu"
            )(x)
        params = layers.Conv2D(out_channels, 3, padding="same", dtype="float32")(x)
    elif architecture == "mlp":
        x = layers.Dense(hidden_units, activation="relu")(x)
        x = layers.Dense(height * width * out_channels, dtype="float32")(x)
        params = layers.Reshape((height, width, out_channels), dtype="float32")(x)
    else:
        raise ConfigError(f"Unknown architecture {architecture!r}; use 'conv' or 'mlp'.")
    inputs = [z, label] if num_classes else z
    return keras.Model(inputs, params, name="decoder")
