"""Random images of a dataset's shape, made with NumPy: what `kgen bench --synthetic` trains
on, to time a model's step where no dataset is prepared, or where TensorFlow (and so
tf.data and TFDS) is not installed, as on a GPU host with JAX only."""

import numpy as np

from kgen.data._common import DatasetInfo
from kgen.data._common import image_shape
from kgen.errors import DataError

# (height, width, channels, classes, training examples) of the TFDS datasets kgen's families
# default to or its docs name, as TFDS describes them.
KNOWN_DATASETS = {
    "mnist": (28, 28, 1, 10, 60_000),
    "fashion_mnist": (28, 28, 1, 10, 60_000),
    "binarized_mnist": (28, 28, 1, None, 50_000),
    "cifar10": (32, 32, 3, 10, 50_000),
    "celeb_a": (218, 178, 3, None, 162_770),
}


def synthetic_info(dataset, image_size=None):
    """The DatasetInfo of random images shaped as `dataset` (a name in KNOWN_DATASETS, or an
    .npz whose `images` and `labels` give the shape and classes), resized to `image_size`
    when given."""
    if str(dataset).endswith(".npz"):
        try:
            with np.load(dataset) as arrays:
                images = arrays["images"]
                labels = arrays["labels"] if "labels" in arrays.files else None
        except (OSError, KeyError, ValueError) as error:
            raise DataError(f"--synthetic could not read the shape of {dataset}: {error}") from None
        height, width = images.shape[1:3]
        channels = images.shape[3] if images.ndim == 4 else 1
        classes = None if labels is None else int(labels.max()) + 1
        count = len(images)
    elif dataset in KNOWN_DATASETS:
        height, width, channels, classes, count = KNOWN_DATASETS[dataset]
    else:
        raise DataError(
            f"--synthetic does not know the shape of {dataset!r}: name one of "
            f"{', '.join(KNOWN_DATASETS)}, or an .npz with `images` of the shape wanted."
        )
    return DatasetInfo(
        name=f"synthetic-{dataset}" if dataset in KNOWN_DATASETS else "synthetic",
        image_shape=image_shape(height, width, channels, image_size),
        num_classes=classes,
        num_examples=count,
        split="train",
    )


def synthetic_batches(info, batch_size, seed):
    """Endless batches (images, labels) or (images,) when `info` has no labels: uniform
    [0, 1) float32 images of `info`'s shape and uniform classes, the same for the same seed.
    Tuples, as Keras takes batches from a Python generator; every model's `unpack` reads
    them as it reads a batch dict."""
    rng = np.random.default_rng(seed)
    while True:
        images = rng.random((batch_size, *info.image_shape), dtype=np.float32)
        if info.num_classes:
            yield images, rng.integers(0, info.num_classes, batch_size).astype(np.int32)
        else:
            yield (images,)
