"""Improved precision and recall (Kynkäänniemi et al. 2019) from k-nearest-neighbour
manifolds of features.
"""

import numpy as np

from kgen.metrics.frechet import _feature_pair


def _squared_distances(x, y, y_squared_norms):
    """[len(x), len(y)] squared Euclidean distances; the expansion can round below 0, hence
    the clip.
    """
    # In place, so a batch holds one [len(x), len(y)] float64 array rather than several.
    squared = x @ y.T
    squared *= -2.0
    squared += np.sum(x * x, axis=1)[:, None]
    squared += y_squared_norms[None, :]
    return np.maximum(squared, 0.0, out=squared)


def _squared_radii(points, k, batch_size):
    """Squared distance from each point to its k-th nearest neighbour in `points`, itself
    excluded.
    """
    norms = np.sum(points * points, axis=1)
    radii = np.empty(points.shape[0])
    for start in range(0, points.shape[0], batch_size):
        stop = min(start + batch_size, points.shape[0])
        squared = _squared_distances(points[start:stop], points, norms)
        # The expansion leaves a point's distance to itself slightly off 0; pinning it at 0 keeps
        # it the smallest of its row, so index k of the sorted row is the k-th neighbour proper.
        rows = np.arange(stop - start)
        squared[rows, start + rows] = 0.0
        radii[start:stop] = np.partition(squared, k, axis=1)[:, k]
    return radii


def _fraction_inside(queries, centres, squared_radii, batch_size):
    """Fraction of `queries` within distance radius of at least one centre."""
    norms = np.sum(centres * centres, axis=1)
    inside = 0
    for start in range(0, queries.shape[0], batch_size):
        squared = _squared_distances(queries[start : start + batch_size], centres, norms)
        inside += int(np.count_nonzero(np.any(squared <= squared_radii[None, :], axis=1)))
    return inside / queries.shape[0]


def precision_recall(real_features, fake_features, k=3, batch_size=1000):
    """Improved precision and recall of generated samples against real ones.

    Each set's manifold is the union of balls centred at its points, each with radius the
    distance to that point's k-th nearest neighbour in the same set. Precision is the fraction
    of fake points inside the real manifold (fidelity); recall the fraction of real points
    inside the fake manifold (coverage). Distances are computed `batch_size` rows at a time, so
    memory stays at batch_size x N rather than N x M.

    Args:
        real_features: [N, D] array, N > k.
        fake_features: [M, D] array, M > k.
        k: which nearest neighbour sets a ball's radius, >= 1.
        batch_size: rows of distances held at once, >= 1.

    Returns:
        (precision, recall) as floats in [0, 1].
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size}")
    k, batch_size = int(k), int(batch_size)
    hint = f" (k={k} neighbours besides the point itself); pass more samples or a smaller k"
    real, fake = _feature_pair(
        real_features, fake_features, ("real_features", "fake_features"), min_rows=k + 1, hint=hint
    )
    # Squared distances compare like distances and spare a square root per pair.
    precision = _fraction_inside(fake, real, _squared_radii(real, k, batch_size), batch_size)
    recall = _fraction_inside(real, fake, _squared_radii(fake, k, batch_size), batch_size)
    return precision, recall
