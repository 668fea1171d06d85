"""Data layer: load a TFDS dataset, an image folder or an .npz, and batch it for training."""

from kgen.data.pipeline import evaluation_batches
from kgen.data.pipeline import images_and_labels
from kgen.data.pipeline import steps_per_epoch
from kgen.data.pipeline import training_stream
from kgen.data.sources import DatasetInfo
from kgen.data.sources import load_source
from kgen.data.tfds_source import labelled_twin

__all__ = [
    "DatasetInfo",
    "load_source",
    "training_stream",
    "evaluation_batches",
    "steps_per_epoch",
    "labelled_twin",
    "images_and_labels",
]
