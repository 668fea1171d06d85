"""Loads a folder of png/jpg/jpeg images; sub-folders, if any, are the class labels."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from PIL import Image

from kgen.data._common import DatasetInfo
from kgen.data._common import check_only_train
from kgen.data._common import finish_image
from kgen.data._common import image_shape
from kgen.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# PIL modes without colour: decoded with one channel so MNIST-like folders stay [H, W, 1].
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    """Image files in `folder`, sorted so that the order (and `limit`) is reproducible."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _list_examples(folder: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """(files, labels or None, class names): sub-folders holding images are classes,
    sorted by name.
    """
    loose = _images_in(folder, recursive=False)
    classes = sorted(
        d.name for d in folder.iterdir() if d.is_dir() and _images_in(d, recursive=True)
    )
    if classes and loose:
        raise DataError(
            f"folder {folder} has both images directly inside ({loose[0].name}, ...) and class "
            f"sub-folders ({', '.join(classes[:3])}, ...); move the loose images into a class "
            "sub-folder, or use a folder without sub-folders."
        )
    if not classes:
        if not loose:
            raise DataError(
                f"folder {folder} contains no {'/'.join(s[1:] for s in IMAGE_SUFFIXES)} images; "
                f"put images in it (or in one sub-folder per class) or pass another folder."
            )
        return loose, None, []
    files, labels = [], []
    for index, name in enumerate(classes):
        class_files = _images_in(folder / name, recursive=True)
        files += class_files
        labels += [index] * len(class_files)
    return files, labels, classes


def _size_and_channels(files: list[Path]) -> tuple[set, int]:
    """Distinct (width, height) sizes and the channel count to decode with (1 if all grey, else 3).

    PIL reads only the file headers here, so this stays fast on large folders.
    """
    sizes, gray = set(), True
    for path in files:
        try:
            with Image.open(path) as image:
                sizes.add(image.size)
                gray = gray and image.mode in _GRAY_MODES
        except OSError as error:
            raise DataError(
                f"image {path} cannot be read ({error}); delete or replace it."
            ) from error
    return sizes, 1 if gray else 3


def load_folder(folder: Path, split: str, *, limit=None, image_size=None):
    """Loads `folder` as {"image", ["label"]} dicts; see load_source."""
    check_only_train(split, f"folder {folder}")
    files, labels, classes = _list_examples(folder)
    if limit is not None:
        files = files[:limit]
        labels = labels[:limit] if labels is not None else None
    sizes, channels = _size_and_channels(files)
    if image_size is None and len(sizes) > 1:
        examples = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:3])
        raise DataError(
            f"folder {folder} has images of different sizes ({examples}, ...); "
            "pass --image-size N to crop and resize them to N x N."
        )
    width, height = next(iter(sizes))
    shape = image_shape(height, width, channels, image_size)

    def decode(path):
        # float32 decoding scales 8- and 16-bit files alike into [0, 1].
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=channels, dtype=tf.float32, expand_animations=False
        )
        image = finish_image(image, 1.0, image_size)
        image.set_shape(shape)
        return image

    paths = tf.data.Dataset.from_tensor_slices([str(p) for p in files])
    if labels is None:
        dataset = paths.map(lambda p: {"image": decode(p)}, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        pairs = tf.data.Dataset.zip(
            paths, tf.data.Dataset.from_tensor_slices(tf.constant(labels, tf.int32))
        )
        dataset = pairs.map(
            lambda p, y: {"image": decode(p), "label": y}, num_parallel_calls=tf.data.AUTOTUNE
        )
    num_classes = len(classes) if labels is not None else None
    return dataset, DatasetInfo(folder.resolve().name, shape, num_classes, len(files), split)
