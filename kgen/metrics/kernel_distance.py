"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial
kernel.
"""

import numpy as np

from kgen.metrics.frechet import _feature_pair

_NAMES = ("features_a", "features_b")


def polynomial_kernel(x, y):
    """The KID kernel k(x, y) = (x . y / D + 1)^3 between every row of x and every row of y.

    Args:
        x: [N, D] array.
        y: [M, D] array.

    Returns:
        [N, M] float64 array of kernel values.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(a, b):
    m, n = a.shape[0], b.shape[0]
    k_aa, k_bb = polynomial_kernel(a, a), polynomial_kernel(b, b)
    # Dropping the diagonal (each point with itself) is what makes the estimator unbiased.
    within_a = (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1))
    within_b = (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1))
    return within_a + within_b - 2.0 * polynomial_kernel(a, b).mean()


def unbiased_mmd2(features_a, features_b):
    """One unbiased estimate of MMD^2 between two whole feature sets, with the KID kernel.

    Args:
        features_a: [N, D] array, N >= 2.
        features_b: [M, D] array, M >= 2.

    Returns:
        The estimate as a float; it can be slightly negative when the distributions match.
    """
    features_a, features_b = _feature_pair(features_a, features_b, _NAMES, min_rows=2)
    return float(_unbiased_mmd2(features_a, features_b))


def kernel_distance(features_a, features_b, num_subsets=100, subset_size=1000, seed=0):
    """KID: the unbiased MMD^2 averaged over random subsets of the two feature sets.

    Each subset draws `subset_size` rows without replacement from each set; subsets bound the
    cost (quadratic in the subset size) and their spread gives an error bar.

    Args:
        features_a: [N, D] array, N >= 2.
        features_b: [M, D] array, M >= 2.
        num_subsets: number of subset pairs to average over, >= 1.
        subset_size: rows per subset, >= 2; capped at min(N, M).
        seed: seed of the numpy Generator that draws the subsets.

    Returns:
        (mean, std) of the per-subset estimates as floats; std is the population standard
        deviation, so 0 for a single subset.
    """
    features_a, features_b = _feature_pair(features_a, features_b, _NAMES, min_rows=2)
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    if subset_size < 2:
        raise ValueError(
            f"subset_size must be >= 2 (the estimator pairs distinct rows), got {subset_size}"
        )
    size = min(subset_size, features_a.shape[0], features_b.shape[0])
    rng = np.random.default_rng(seed)
    estimates = np.array(
        [
            _unbiased_mmd2(
                features_a[rng.choice(features_a.shape[0], size, replace=False)],
                features_b[rng.choice(features_b.shape[0], size, replace=False)],
            )
            for _ in range(num_subsets)
        ]
    )
    return float(estimates.mean()), float(estimates.std())
