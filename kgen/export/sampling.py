"""Drawing images from an exported SavedModel's `sample` signature."""

import tensorflow as tf

from kgen.errors import ConfigError
from kgen.export.saved_model import load_saved_model
from kgen.export.saved_model import saved_model_metadata
from kgen.utils.labels import label_range_problem


def sample_saved_model(path, num, seed, labels=None):
    """`num` images (numpy, [N, H, W, C] in [0, 1]) from the SavedModel at `path`."""
    num_classes = saved_model_metadata(path).get("num_classes")
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
    inputs = {"num": tf.constant(num, tf.int32), "seed": tf.constant(seed, tf.int64)}
    expects_labels = "labels" in signature.structured_input_signature[1]
    if expects_labels:
        if labels is None:
            raise ConfigError(
                "This model is class-conditional: pass --labels, e.g. --labels 0,1,2."
            )
        inputs["labels"] = tf.constant(labels, tf.int32)
    elif labels is not None:
        raise ConfigError("This model is not class-conditional: leave out --labels.")
    return signature(**inputs)["images"].numpy()
