"""Figures of a model's images: samples, and real images above their reconstructions."""

import math

import numpy as np
from keras import ops

from kgen.plots.figures import grid_figure


def to_numpy(images):
    """Model output as float32 numpy (mixed-precision models may decode in float16)."""
    return np.asarray(ops.convert_to_numpy(images), np.float32)


def samples_figure(model, num=64, seed=0, labels=None, sampler=None):
    """A grid of `num` samples drawn with `seed` by `sampler(num, seed, labels)` (by default
    `model.sample`, eagerly).

    A conditional model without `labels` gets labels cycling through its classes, one
    class per column; with `labels`, one image per label.
    """
    cycling = labels is None and model.num_classes
    if labels is None:
        labels = model.summary_labels(num)
    sampler = sampler or (lambda num, seed, labels: model.sample(num, seed=seed, labels=labels))
    images = to_numpy(sampler(num, seed, labels))
    if cycling:
        columns = model.num_classes
        return grid_figure(
            images,
            columns,
            title=f"samples (seed {seed})",
            column_labels=[str(label) for label in range(columns)],
            xlabel="label",
        )
    return grid_figure(images, math.ceil(math.sqrt(len(images))), title=f"samples (seed {seed})")


def posterior_means(model, images, labels=None):
    """Posterior means of q(z | x), numpy [N, latent_dim]."""
    mean, _ = model.encode(images, labels)
    return to_numpy(mean)


def reconstructions_figure(model, images, labels=None, columns=8):
    """Rows of `columns` real images, each row above the row of their reconstructions."""
    originals = np.asarray(images, np.float32)
    columns = min(columns, len(originals))
    copies = to_numpy(model.reconstruct(originals, labels))
    blank = np.ones_like(originals[:1])
    rows, row_labels = [], []
    for start in range(0, len(originals), columns):
        for part, name in ((originals, "original"), (copies, "reconstruction")):
            chunk = part[start : start + columns]
            rows.append(np.concatenate([chunk] + [blank] * (columns - len(chunk))))
            row_labels.append(name)
    return grid_figure(
        np.concatenate(rows),
        columns,
        title="reconstructions (posterior mean)",
        row_labels=row_labels,
    )
