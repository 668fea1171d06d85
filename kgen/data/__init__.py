"""Data layer: load a TFDS dataset, an image folder or an .npz, and batch it for training.

`DatasetInfo` and `steps_per_epoch` import without TensorFlow; the loaders and pipelines
(tf.data, TFDS) are imported on first use, so that a run on JAX that reads no dataset
(`kgen bench --synthetic`) needs no TensorFlow.
"""

import importlib

from kgen.data._common import DatasetInfo
from kgen.data._common import steps_per_epoch

_LAZY = {
    "load_source": "kgen.data.sources",
    "training_stream": "kgen.data.pipeline",
    "evaluation_batches": "kgen.data.pipeline",
    "images_and_labels": "kgen.data.pipeline",
    "count_examples": "kgen.data.pipeline",
    "labelled_twin": "kgen.data.tfds_source",
}

__all__ = ["DatasetInfo", "steps_per_epoch", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kgen.data' has no attribute {name!r}")
