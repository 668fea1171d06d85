"""Drawing images from an exported SavedModel's `sample` signature."""

import numpy as np
import tensorflow as tf

from kgen.errors import ConfigError
from kgen.export.saved_model import load_saved_model
from kgen.export.saved_model import saved_model_metadata
from kgen.utils.labels import label_range_problem


def sample_saved_model(path, num, seed, labels=None):
    """`num` images (numpy, [N, H, W, C] in [0, 1]) from the SavedModel at `path`.

    The signature draws at most the export's `max_sample_num` images per call; more are
    drawn in chunks of that size, chunk i with seed `seed + i` (as kgen's in-process
    sampler does), so a request within the limit is one call with `seed` itself.
    """
    metadata = saved_model_metadata(path)
    num_classes = metadata.get("num_classes")
    if labels is not None and num_classes:
        problem = label_range_problem(labels, num_classes)
        if problem:
            raise ConfigError(f"--labels: {problem}.")
    loaded = load_saved_model(path)
    if "sample" not in loaded.signatures:
        raise ConfigError(
            f"The SavedModel at {path!r} has no `sample` signature; was it written by kgen?"
        )
    signature = loaded.signatures["sample"]
    expects_labels = "labels" in signature.structured_input_signature[1]
    if expects_labels and labels is None:
        raise ConfigError("This model is class-conditional: pass --labels, e.g. --labels 0,1,2.")
    if not expects_labels and labels is not None:
        raise ConfigError("This model is not class-conditional: leave out --labels.")
    # Exports older than the limit have none (and no guard).
    chunk = metadata.get("max_sample_num") or (num if labels is None else len(labels))
    return np.concatenate(
        [
            _draw(signature, size, seed + index, chunk_labels)
            for index, (size, chunk_labels) in enumerate(_chunks(num, labels, max(chunk, 1)))
        ]
    )


def _chunks(num, labels, size):
    """(images to draw, their labels or None) for each call of at most `size` images; one
    call even for none, which returns an empty batch of the right shape."""
    if labels is None:
        return [(min(size, num - start), None) for start in range(0, max(num, 1), size)]
    return [(0, labels[start : start + size]) for start in range(0, max(len(labels), 1), size)]


def _draw(signature, num, seed, labels):
    inputs = {"num": tf.constant(num, tf.int32), "seed": tf.constant(seed, tf.int64)}
    if labels is not None:
        inputs["labels"] = tf.constant(labels, tf.int32)
    return signature(**inputs)["images"].numpy()
