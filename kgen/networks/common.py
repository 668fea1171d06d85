"""Pieces the convolutional networks share: the stage count, the square check, labels."""

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
            "be halved at least twice (28, 32 and 64 work). Pass --image-size 28, 32 or 64 (or, "
            "for the VAE, choose --architecture mlp)."
        )
    return steps


def check_square(image_shape):
    """A ConfigError unless the images are square, as the conv networks need."""
    if image_shape[0] != image_shape[1]:
        raise ConfigError(
            f"Images of {image_shape[0]}x{image_shape[1]} pixels are not square; the networks "
            "need square images. Pass --image-size N to centre-crop and resize them."
        )


def label_input(num_classes):
    """The class-label input of a conditional network, or None."""
    return keras.Input(shape=(), dtype="int32", name="label") if num_classes else None


def append_label(x, label, num_classes):
    """Concatenate the one-hot label to the features `x` when the network is conditional."""
    if not num_classes:
        return x
    return layers.Concatenate()([x, layers.CategoryEncoding(num_classes, "one_hot")(label)])
