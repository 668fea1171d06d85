"""Data layer: load a TFDS dataset, an image folder or an .npz, and batch it for training."""

from kgen.data.pipeline import evaluation_batches, images_and_labels, steps_per_epoch, training_stream
from kgen.data.sources import DatasetInfo, load_source
from kgen.data.tfds_source import labelled_twin

__all__ = ["DatasetInfo", "load_source", "training_stream", "evaluation_batches", "steps_per_epoch", "labelled_twin", "images_and_labels"]
