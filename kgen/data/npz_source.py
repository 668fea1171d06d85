"""Loads an .npz holding `images` ([N,H,W] or [N,H,W,C]) and optional integer `labels` ([N])."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from kgen.data._common import DatasetInfo
from kgen.data._common import check_only_train
from kgen.data._common import finish_image
from kgen.data._common import image_shape
from kgen.errors import DataError


def _read_arrays(path: Path, limit) -> tuple[np.ndarray, np.ndarray | None]:
    """The `images` and `labels` arrays (first `limit` rows), checked and with a channel axis."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            if "images" not in keys:
                raise DataError(
                    f"{path} has no array named 'images' (it has: {', '.join(keys) or 'nothing'}); "
                    f"save it with np.savez(path, images=..., labels=...)."
                )
            images = archive["images"][:limit]
            labels = archive["labels"][:limit] if "labels" in keys else None
    except (OSError, ValueError) as error:
        raise DataError(
            f"{path} cannot be read as an .npz ({error}); write it with numpy.savez."
        ) from error
    if images.ndim == 3:
        images = images[..., None]  # greyscale [N, H, W]: models expect a channel axis
    if images.ndim != 4 or len(images) == 0:
        raise DataError(
            f"'images' in {path} has shape {images.shape}; "
            "it must be a non-empty [N, H, W] or [N, H, W, C] array."
        )
    if labels is not None:
        if (
            labels.shape != (len(images),)
            or not np.issubdtype(labels.dtype, np.integer)
            or labels.min() < 0
        ):
            raise DataError(
                f"'labels' in {path} has shape {labels.shape} and dtype {labels.dtype}; "
                f"it must hold {len(images)} non-negative integers, one per image "
                "(or be left out)."
            )
    return images, labels


def _pixel_scale(images: np.ndarray, path: Path) -> float:
    """Divisor that maps the stored pixels to [0, 1]: 255 for integer images, 1 for floats."""
    low, high = images.min(), images.max()
    if np.issubdtype(images.dtype, np.integer) or images.dtype == bool:
        if low < 0 or high > 255:
            raise DataError(
                f"integer 'images' in {path} range over [{low}, {high}]; "
                "store uint8 pixels in 0..255."
            )
        return 255.0 if images.dtype != bool else 1.0
    if np.issubdtype(images.dtype, np.floating) and 0.0 <= low and high <= 1.0:
        return 1.0
    raise DataError(
        f"'images' in {path} have dtype {images.dtype} and range [{low}, {high}]; "
        "store uint8 in 0..255 or floats in [0, 1]."
    )


def load_npz(path: Path, split: str, *, limit=None, image_size=None):
    """Loads the arrays in `path` as {"image", ["label"]} dicts; see load_source."""
    check_only_train(split, f".npz file {path}")
    images, labels = _read_arrays(path, limit)
    scale = _pixel_scale(images, path)
    # Kept in the stored dtype (uint8 is 4x smaller than float32) and converted per example.
    tensors = {"image": images}
    if labels is not None:
        tensors["label"] = labels.astype(np.int32)

    def convert(example):
        example["image"] = finish_image(example["image"], scale, image_size)
        return example

    dataset = tf.data.Dataset.from_tensor_slices(tensors).map(
        convert, num_parallel_calls=tf.data.AUTOTUNE
    )
    height, width, channels = images.shape[1:]
    shape = image_shape(height, width, channels, image_size)
    num_classes = int(labels.max()) + 1 if labels is not None else None
    return dataset, DatasetInfo(path.stem, shape, num_classes, len(images), split)
