"""Checking class labels against the number of classes a model was trained on."""

import numpy as np


def label_range_problem(labels, num_classes):
    """None if every one of `labels` lies in [0, num_classes); otherwise a phrase naming the
    first that does not and the valid range.

    An out-of-range label fails silently further down (a one-hot of 12 over 10 classes is all
    zeros, an embedding lookup past its table gives zeros on GPU), hence a check up front.
    """
    values = np.asarray(labels).reshape(-1)
    outside = values[(values < 0) | (values >= num_classes)]
    if outside.size == 0:
        return None
    return f"label {outside[0]} is outside [0, {num_classes}): the model has {num_classes} classes"
