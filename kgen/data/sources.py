"""One entry point, load_source, for the three kinds of image data kgen reads.

A spec is a TFDS dataset name, a folder of png/jpg/jpeg images, or an .npz file. Every
source yields {"image": float32 [H, W, C] in [0, 1], "label": int32 scalar} dicts, "label"
only when the data is labelled, so models and pipelines never care where data came from.
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf

from kgen.data import folder_source
from kgen.data import npz_source
from kgen.data import tfds_source
from kgen.data._common import DatasetInfo
from kgen.data._common import check_positive
from kgen.errors import DataError

__all__ = ["DatasetInfo", "load_source"]


def _looks_like_path(spec: str) -> bool:
    """True if the user evidently meant a path rather than a bare TFDS name."""
    return (
        os.sep in spec
        or "/" in spec
        or spec.startswith(("~", "."))
        or spec.lower().endswith(".npz")
    )


def load_source(
    spec: str,
    split: str = "train",
    *,
    data_dir=None,
    manual_dir=None,
    limit: int | None = None,
    image_size: int | None = None,
) -> tuple[tf.data.Dataset, DatasetInfo]:
    """Loads `spec` as a finite dataset of {"image", ["label"]} dicts and describes it.

    Args:
      spec: TFDS name (mnist, cifar10, celeb_a, ...; the first Image and ClassLabel features
        are used), a folder of images (sub-folders = classes in sorted order, loose files =
        unlabelled) or an .npz with `images` (uint8 0..255 or float [0, 1]) and optional `labels`.
      split: TFDS split name ("train", "test", "validation", ...); folders and .npz only have
        "train".
      data_dir: TFDS data directory (None = TFDS default).
      manual_dir: directory of manually downloaded raw files, or one sub-folder per dataset;
        defaults to env KGEN_MANUAL_DIR.
      limit: keep only the first `limit` examples.
      image_size: centre-crop to a square and resize to image_size x image_size.

    Raises:
      DataError: for any problem the user can fix; the message names the value and the fix.
    """
    check_positive("limit", limit)
    check_positive("image_size", image_size)
    path = Path(spec).expanduser()
    # A bare word that is also a TFDS name ("mnist") stays a TFDS name even if a folder of that
    # name happens to be in the working directory, e.g. the raw-files folder itself.
    if path.exists() and (_looks_like_path(spec) or not tfds_source.is_registered(spec)):
        if path.is_dir():
            return folder_source.load_folder(path, split, limit=limit, image_size=image_size)
        if path.suffix.lower() == ".npz":
            return npz_source.load_npz(path, split, limit=limit, image_size=image_size)
        raise DataError(
            f"{spec!r} is a file but not an .npz; pass a TFDS name, a folder of png/jpg images "
            "or an .npz with an 'images' array."
        )
    if spec.lower().endswith(".npz"):
        raise DataError(f"no .npz file at {path}; check the path.")
    return tfds_source.load_tfds(
        spec, split, data_dir=data_dir, manual_dir=manual_dir, limit=limit, image_size=image_size
    )
