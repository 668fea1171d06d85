"""Pieces shared by every data source: the DatasetInfo record, batch counts and image
helpers. TensorFlow is imported by the image helpers only, so that the record and the
counts serve a run without it (`kgen bench --synthetic` on JAX)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from kgen.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a model and a run directory need to know about a loaded split."""

    name: str  # short name for run dirs: TFDS name, folder basename, or npz stem
    image_shape: tuple  # (H, W, C) after any resize
    num_classes: int | None  # None when unlabelled
    num_examples: int  # examples in the loaded split, after limit
    split: str


def check_positive(name: str, value: int | None) -> None:
    """Raises DataError unless `value` (the `name` setting) is None or a positive int."""
    if value is not None and (not isinstance(value, int) or value <= 0):
        flag = "--" + name.replace("_", "-")
        raise DataError(
            f"{name}={value!r} is not a positive number; pass {flag} N with N >= 1 or omit it."
        )


def image_shape(height: int, width: int, channels: int, image_size: int | None) -> tuple:
    """The (H, W, C) a source yields: its own size, or image_size x image_size when resized."""
    return (height, width, channels) if image_size is None else (image_size, image_size, channels)


def finish_image(image: tf.Tensor, pixel_max: float, image_size: int | None) -> tf.Tensor:
    """Stored pixels -> float32 in [0, 1], centre-cropped and resized when `image_size` is set."""
    import tensorflow as tf

    image = tf.cast(image, tf.float32) / pixel_max
    return image if image_size is None else square_resize(image, image_size)


def check_only_train(split: str, source: str) -> None:
    """Folder and npz sources hold one unsplit collection, exposed as "train"."""
    if split != "train":
        raise DataError(
            f"split {split!r} does not exist for {source}: folder and .npz sources have only "
            "the split 'train' (all examples); use split 'train' or make a separate "
            "folder/.npz for held-out data."
        )


def square_resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """Centre-crops a float [H, W, C] image to a square, then resizes it to size x size.

    Cropping first keeps the aspect ratio (no squashed faces); bilinear with antialias
    behaves like an area filter when shrinking and stays smooth when enlarging.
    """
    import tensorflow as tf

    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    top = (shape[0] - side) // 2
    left = (shape[1] - side) // 2
    image = image[top : top + side, left : left + side, :]
    image = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    # Interpolation can overshoot by a rounding error; models assume [0, 1] exactly.
    return tf.clip_by_value(image, 0.0, 1.0)


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
    """Full batches per epoch (the training stream drops the remainder).

    Raises DataError when the data does not fill even one batch.
    """
    if global_batch_size < 1:
        raise DataError(
            f"batch size {global_batch_size} is not positive; pass --batch-size N with N >= 1."
        )
    if num_examples < global_batch_size:
        raise DataError(
            f"{num_examples} examples do not fill one batch of {global_batch_size}; "
            f"pass a smaller --batch-size (at most {num_examples}) or a larger --limit."
        )
    return num_examples // global_batch_size
