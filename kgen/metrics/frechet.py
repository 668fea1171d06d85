"""Fréchet distance between Gaussians fitted to two feature sets (the distance behind FID)."""

import numpy as np


def _feature_matrix(features, name, min_rows, hint=""):
    """`features` as a float64 [N, D] array, or a ValueError naming its shape."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] < min_rows:
        raise ValueError(
            f"{name} must be a 2-D array [N, D] with N >= {min_rows} rows{hint}, "
            f"got shape {array.shape}"
        )
    return array


def _feature_pair(features_a, features_b, names, min_rows, hint=""):
    """Two feature sets as float64 [N, D] and [M, D] arrays with one D, or a ValueError."""
    arrays = [
        _feature_matrix(f, name, min_rows, hint) for f, name in zip((features_a, features_b), names)
    ]
    if arrays[0].shape[1] != arrays[1].shape[1]:
        raise ValueError(
            f"feature dimensions differ: {names[0]} has shape {arrays[0].shape}, "
            f"{names[1]} has shape {arrays[1].shape}; both need the same D"
        )
    return arrays


def feature_moments(features):
    """Mean and unbiased covariance of a feature set.

    Args:
        features: [N, D] array, N >= 2.

    Returns:
        (mean [D], covariance [D, D]), both float64; the covariance divides by N - 1.
    """
    features = _feature_matrix(features, "features", min_rows=2)
    mean = features.mean(axis=0)
    centred = features - mean
    return mean, centred.T @ centred / (features.shape[0] - 1)


def symmetric_sqrt(matrix):
    """The positive semi-definite square root of a symmetric matrix.

    Computed by eigendecomposition with eigenvalues clipped at 0. Covariances estimated from
    fewer samples than dimensions are singular, and rounding then leaves eigenvalues such as
    -1e-12; a general matrix square root (scipy.linalg.sqrtm) turns those into complex
    entries, whereas clipping keeps the result real, finite and symmetric.

    Args:
        matrix: [D, D] symmetric (up to rounding) positive semi-definite array.

    Returns:
        [D, D] float64 symmetric S with S @ S equal to `matrix` up to the clipped eigenvalues.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square [D, D], got shape {matrix.shape}")
    # eigh reads one triangle only; symmetrizing first makes the result independent of which.
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b):
    """Squared Fréchet (2-Wasserstein) distance between N(mean_a, cov_a) and N(mean_b, cov_b).

    ||mean_a - mean_b||^2 + tr(A) + tr(B) - 2 tr((A^1/2 B A^1/2)^1/2). The trace term uses the
    symmetric form, whose argument is PSD, so it stays real on singular covariances where
    tr(sqrtm(A B)) would not.

    Args:
        mean_a, mean_b: [D] arrays.
        cov_a, cov_b: [D, D] symmetric PSD arrays.

    Returns:
        The distance as a float, >= 0.
    """
    mean_a, mean_b = (np.asarray(m, dtype=np.float64) for m in (mean_a, mean_b))
    cov_a, cov_b = (np.asarray(c, dtype=np.float64) for c in (cov_a, cov_b))
    dim = mean_a.shape[0] if mean_a.ndim == 1 else None
    expected = {"mean_a": (dim,), "mean_b": (dim,), "cov_a": (dim, dim), "cov_b": (dim, dim)}
    received = {
        "mean_a": mean_a.shape,
        "mean_b": mean_b.shape,
        "cov_a": cov_a.shape,
        "cov_b": cov_b.shape,
    }
    if dim is None or received != expected:
        raise ValueError(
            f"expected means of shape [D] and covariances [D, D] with one D, got shapes {received}"
        )
    sqrt_a = symmetric_sqrt(cov_a)
    product = sqrt_a @ cov_b @ sqrt_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt = np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None)))
    diff = mean_a - mean_b
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt
    # A squared distance; rounding can leave it a hair below zero.
    return float(max(distance, 0.0))


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two feature sets (FID on Inception features).

    Args:
        features_a: [N, D] array, N >= 2.
        features_b: [M, D] array, M >= 2.

    Returns:
        The distance as a float, >= 0.
    """
    features_a, features_b = _feature_pair(
        features_a, features_b, ("features_a", "features_b"), min_rows=2
    )
    return frechet_distance_from_moments(*feature_moments(features_a), *feature_moments(features_b))
