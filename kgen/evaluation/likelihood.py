"""Likelihood figures over a dataset split: nats per image and bits per dimension."""

import time

import keras
import numpy as np

from kgen.data import evaluation_batches
from kgen.distributions import bits_per_dim


def evaluate_likelihood(model, dataset, info, batch_size=100, num_samples=1000, progress=None):
    """Mean of each of the model's per-image negative log-likelihood figures over `dataset`.

    Returns {name: {"nats": mean per image, "bits_per_dim": the same in bits per pixel and
    channel}, ...} plus "num_images" and "seconds". `progress(done)` is called per batch.
    """
    totals, count, start = {}, 0, time.perf_counter()
    for batch in evaluation_batches(dataset, batch_size, cache=False):
        labels = batch.get("label") if getattr(model, "num_classes", None) else None
        figures = model.negative_log_likelihoods(batch["image"], labels, num_samples=num_samples)
        for name, values in figures.items():
            totals[name] = totals.get(name, 0.0) + float(np.sum(keras.ops.convert_to_numpy(values)))
        count += int(batch["image"].shape[0])
        if progress:
            progress(count)
    report = {
        name: {"nats": total / count, "bits_per_dim": bits_per_dim(total / count, info.image_shape)}
        for name, total in totals.items()
    }
    report.update(num_images=count, seconds=time.perf_counter() - start)
    return report
