"""Loads any TFDS dataset that has an Image feature, preparing it from manually placed files.

How TFDS finds manual files (tensorflow_datasets 4.9,
DownloadManager._get_manually_downloaded_path): for every URL a builder downloads, it looks for
`manual_dir / url_info.filename`, where `filename` is the 4th column of the builder's registered
checksums (`builder.url_infos`; for mnist and binarized_mnist it equals the URL basename). The
lookup is flat: TFDS does not look in `manual_dir/<dataset name>`, so kgen resolves that sub-folder
itself before handing the directory to TFDS. A file found there is checksum-validated and used
instead of downloading.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
import urllib.parse
from pathlib import Path

import requests
import tensorflow as tf
import tensorflow_datasets as tfds

from kgen.data._common import DatasetInfo
from kgen.data._common import finish_image
from kgen.data._common import image_shape
from kgen.errors import DataError

# Largest stored pixel value, for datasets whose integer Image feature does not span the
# dtype's full range. Data about datasets, not behaviour: generic code only reads this table.
_PIXEL_MAX = {
    "binarized_mnist": 1.0,  # uint8 Image feature holding 0/1, not 0/255
}

# Seconds the offline check waits for a download server (or proxy) to answer. TFDS itself
# retries each URL 10 times with back-off, which offline takes minutes to give up.
_REACHABLE_TIMEOUT_S = 10

# Unlabelled datasets whose images are those of a labelled one: a domain classifier for
# sample-quality metrics is trained on the labelled twin.
_LABELLED_TWIN = {
    "binarized_mnist": "mnist",
}


def labelled_twin(name: str) -> str:
    """The labelled dataset whose images `name` holds (itself unless the table says otherwise)."""
    return _LABELLED_TWIN.get(name, name)


def is_registered(name: str) -> bool:
    """True if `name` (without config or version) is a TFDS dataset name."""
    try:
        tfds.builder_cls(name.split("/")[0].split(":")[0])
    except tfds.core.DatasetNotFoundError:
        return False
    return True


def resolve_manual_dir(manual_dir, name: str) -> Path | None:
    """Returns the directory TFDS should search: `<manual_dir>/<name>` if present, else manual_dir.

    Defaults to env KGEN_MANUAL_DIR, so both a shared root holding one folder per dataset and
    a folder holding just this dataset's files work.
    """
    manual_dir = manual_dir or os.environ.get("KGEN_MANUAL_DIR") or None
    if manual_dir is None:
        return None
    base = Path(manual_dir).expanduser()
    return base / name if (base / name).is_dir() else base


def expected_files(builder) -> list[tuple[str, str]]:
    """(file name TFDS looks for in the manual dir, URL it would download) for each download."""
    files = []
    for url, info in sorted((builder.url_infos or {}).items()):
        # The checksum file's name column is what TFDS matches; old checksum files lack it.
        name = info.filename or posixpath.basename(urllib.parse.urlparse(url).path)
        files.append((name, url))
    return files


def _offline_hint(builder) -> str:
    """How to prepare `builder` without internet, worded for the CLI."""
    name = builder.name
    files = expected_files(builder)
    if files:
        what = (
            f"place the files {', '.join(f for f, _ in files)} "
            f"(downloadable from {', '.join(u for _, u in files)})"
        )
    elif builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        what = (
            "place the files TFDS asks for ("
            + " ".join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
            + ")"
        )
    else:
        what = f"place the raw files the TFDS '{name}' builder downloads"
    return (
        f"{what} in a directory DIR or DIR/{name}, then pass --manual-dir DIR or set "
        "KGEN_MANUAL_DIR=DIR"
    )


def _prepare(builder, manual_dir: Path | None) -> None:
    """Prepares the builder once; raises DataError (not a 3-minute retry loop) when files
    are missing.
    """
    if builder.is_prepared():
        return
    files = expected_files(builder)
    if manual_dir is not None and files:
        # A manual dir means "offline": fail now instead of letting TFDS retry unreachable URLs
        # for minutes (it retries each URL 10 times with back-off).
        missing = [f for f, _ in files if not (manual_dir / f).is_file()]
        if missing:
            raise DataError(
                f"TFDS dataset '{builder.name}' is not prepared in {builder.data_dir} and the "
                f"manual dir {manual_dir} lacks {', '.join(missing)}; "
                f"{_offline_hint(builder)}."
            )
    if manual_dir is None and files:
        check_reachable(builder)
    config = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir) if manual_dir else None)
    try:
        # TFDS prints its "Downloading and preparing" notes to stdout; stdout is the
        # commands' own (`kgen bench --json` writes JSON there), so send them to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            builder.download_and_prepare(download_config=config)
    except Exception as error:  # TFDS raises many types (requests, checksum, OSError...)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise DataError(
            f"TFDS could not download or prepare '{builder.name}' "
            f"({type(error).__name__}: {first_line}); "
            f"to prepare it offline, {_offline_hint(builder)}."
        ) from error


def check_reachable(builder):
    """Raise DataError at once if the builder's first download cannot be reached.

    One request with a short timeout and no retries, through `requests` as TFDS downloads,
    so proxies from the environment apply alike. Any HTTP answer, whatever its status, means
    the network works and TFDS may go ahead; only a failure to connect stops it here.
    A builder with nothing to download passes.
    """
    files = expected_files(builder)
    if not files:
        return
    url = files[0][1]
    try:
        requests.head(url, timeout=_REACHABLE_TIMEOUT_S, allow_redirects=False).close()
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
        host = urllib.parse.urlparse(url).netloc
        raise DataError(
            f"TFDS dataset '{builder.name}' is not prepared in {builder.data_dir} and {host} "
            f"cannot be reached ({type(error).__name__}); to prepare it offline, "
            f"{_offline_hint(builder)}."
        ) from error


def _first_feature(features, kind):
    """Key of the first top-level feature of type `kind`, or None."""
    return next((key for key, feature in features.items() if isinstance(feature, kind)), None)


def load_tfds(
    name: str, split: str, *, data_dir=None, manual_dir=None, limit=None, image_size=None
):
    """Loads split `split` of TFDS dataset `name` as {"image", ["label"]} dicts; see load_source."""
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as error:
        raise DataError(
            f"dataset {name!r} is neither a TFDS dataset name nor an existing folder or .npz path; "
            "use a name from the TFDS catalog (e.g. mnist, cifar10) or the path of a folder of "
            "images or of an .npz."
        ) from error
    features = builder.info.features
    image_key = _first_feature(features, tfds.features.Image)
    label_key = _first_feature(features, tfds.features.ClassLabel)
    # Checked before preparing, so that an unusable dataset is not downloaded for nothing.
    if image_key is None:
        raise DataError(
            f"TFDS dataset {name!r} has no Image feature; "
            "kgen needs an image dataset such as mnist or cifar10."
        )
    height, width, channels = features[image_key].shape
    if image_size is None and (height is None or width is None):
        raise DataError(
            f"TFDS dataset {name!r} has images of varying sizes; "
            "pass --image-size N to crop and resize them to N x N."
        )

    _prepare(builder, resolve_manual_dir(manual_dir, builder.name))

    available = ", ".join(builder.info.splits.keys())
    try:
        split_size = builder.info.splits[split].num_examples
    except (KeyError, ValueError) as error:
        raise DataError(
            f"split {split!r} does not exist for TFDS dataset {name!r}; "
            f"available splits: {available}."
        ) from error
    read_split, num_examples = split, split_size
    if limit is not None and limit < split_size:
        # Slicing lets TFDS read only the first records; a plain name is wrapped, TFDS
        # expressions that already slice or join splits are cut with take() instead.
        num_examples = limit
        if "[" not in split and "+" not in split:
            read_split = f"{split}[:{limit}]"

    # try_autocache=False: the training pipeline caches after our map, caching twice wastes RAM.
    read_config = tfds.ReadConfig(try_autocache=False)
    dataset = builder.as_dataset(split=read_split, shuffle_files=False, read_config=read_config)
    if read_split == split and num_examples < split_size:
        dataset = dataset.take(num_examples)

    dtype = tf.as_dtype(features[image_key].dtype)
    pixel_max = _PIXEL_MAX.get(builder.name, dtype.max if dtype.is_integer else 1.0)

    def to_example(example):
        out = {"image": finish_image(example[image_key], pixel_max, image_size)}
        if label_key is not None:
            out["label"] = tf.cast(example[label_key], tf.int32)
        return out

    dataset = dataset.map(to_example, num_parallel_calls=tf.data.AUTOTUNE)
    shape = image_shape(height, width, channels, image_size)
    num_classes = features[label_key].num_classes if label_key is not None else None
    return dataset, DatasetInfo(builder.name, shape, num_classes, num_examples, split)
