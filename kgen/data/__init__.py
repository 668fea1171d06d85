"""Data layer: load a TFDS dataset, an image folder or an .npz, and batch it for training."""

from kgen.data.pipeline import evaluation_batches, steps_per_epoch, training_stream
from kgen.data.sources import DatasetInfo, load_source

__all__ = ["DatasetInfo", "load_source", "training_stream", "evaluation_batches", "steps_per_epoch"]
