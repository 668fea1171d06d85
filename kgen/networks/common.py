"""Pieces the networks share: the stage count, the square check, labels, a float32 pass."""

import contextlib

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


@contextlib.contextmanager
def computing_in_float32(network):
    """Calls of `network` inside this block compute in float32, whatever its dtype policy.

    Mixed-precision layers keep float32 weights and compute in float16 or bfloat16; a few
    quantities (the gradient penalty's input gradient) need the float32 computation: float16
    flushes small gradients to zero and bfloat16 keeps 8 bits of each. The policy is read
    when a call is traced, so a traced function sees float32 for the calls made here only.
    """
    layers_and_policies = [(layer, layer.dtype_policy) for layer in network._flatten_layers()]
    try:
        for layer, _ in layers_and_policies:
            layer.dtype_policy = "float32"
        yield network
    finally:
        for layer, policy in layers_and_policies:
            layer.dtype_policy = policy


def replica_batch_norm(**kwargs):
    """Batch normalization over the whole global batch, however many replicas share it.

    TensorFlow's distribution strategies give each replica its own slice of the batch, so
    the statistics are summed across replicas (`synchronized=True`). Keras's JAX
    distribution computes on the global array, whose mean already spans every device, and
    Keras offers `synchronized` on TensorFlow only.
    """
    synchronized = keras.backend.backend() == "tensorflow"
    return layers.BatchNormalization(synchronized=synchronized, **kwargs)


def mixes_batch_examples(network):
    """Whether any layer of `network` computes across the examples of a batch (batch norm,
    synchronized or not), so that one call on two batches concatenated would not give
    what two calls give."""
    return any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in network._flatten_layers()
    )
