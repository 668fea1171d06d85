"""Tests of kgen.metrics: Fréchet distance, kernel distance, precision and recall, against
closed forms.
"""

import itertools
import math
import re

import numpy as np
import pytest

from kgen.metrics import feature_moments
from kgen.metrics import frechet_distance
from kgen.metrics import frechet_distance_from_moments
from kgen.metrics import kernel_distance
from kgen.metrics import polynomial_kernel
from kgen.metrics import precision_recall
from kgen.metrics import symmetric_sqrt
from kgen.metrics import unbiased_mmd2

# Backend-agnostic: also run under JAX by tests/test_backends.py.
pytestmark = pytest.mark.backends


def _random_spd(rng, dim):
    """A random well-conditioned symmetric positive definite matrix."""
    factor = rng.normal(size=(dim, dim))
    return factor @ factor.T / dim + 0.5 * np.eye(dim)


def _frechet_2x2(mean_a, cov_a, mean_b, cov_b):
    """Closed form in 2-D, free of any matrix square root.

    For 2x2 PSD M, tr(sqrt(M)) = sqrt(tr M + 2 sqrt(det M)); with M = A^1/2 B A^1/2,
    tr M = tr(AB) and det M = det A det B.
    """
    trace_sqrt = math.sqrt(
        np.trace(cov_a @ cov_b) + 2.0 * math.sqrt(np.linalg.det(cov_a) * np.linalg.det(cov_b))
    )
    diff = np.asarray(mean_a) - np.asarray(mean_b)
    return float(diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


# --- Fréchet distance -------------------------------------------------------------------------


def test_frechet_distance_of_a_set_against_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 16))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)


def test_feature_moments_are_mean_and_unbiased_covariance():
    features = np.array([[1.0, 2.0], [3.0, 0.0], [5.0, 4.0]])
    mean, cov = feature_moments(features)
    np.testing.assert_allclose(mean, [3.0, 2.0])
    # Deviations (-2, 0), (0, -2), (2, 2); sums of products over N - 1 = 2.
    np.testing.assert_allclose(cov, [[4.0, 2.0], [2.0, 4.0]])


def test_frechet_distance_of_diagonal_gaussians_matches_closed_form():
    rng = np.random.default_rng(1)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 3.0, size=6), rng.uniform(0.1, 3.0, size=6)
    expected = (
        np.sum((mean_a - mean_b) ** 2)
        + var_a.sum()
        + var_b.sum()
        - 2.0 * np.sum(np.sqrt(var_a * var_b))
    )
    got = frechet_distance_from_moments(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert got == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_with_equal_non_diagonal_covariances_is_the_mean_gap():
    rng = np.random.default_rng(2)
    cov = _random_spd(rng, 8)
    assert not np.allclose(cov, np.diag(np.diag(cov)))
    mean_a, mean_b = rng.normal(size=8), rng.normal(size=8)
    got = frechet_distance_from_moments(mean_a, cov, mean_b, cov)
    assert got == pytest.approx(np.sum((mean_a - mean_b) ** 2), rel=1e-9)


def test_frechet_distance_of_non_commuting_2x2_gaussians_matches_closed_form():
    rng = np.random.default_rng(3)
    for _ in range(5):
        cov_a, cov_b = _random_spd(rng, 2), _random_spd(rng, 2)
        assert not np.allclose(cov_a @ cov_b, cov_b @ cov_a)
        mean_a, mean_b = rng.normal(size=2), rng.normal(size=2)
        expected = _frechet_2x2(mean_a, cov_a, mean_b, cov_b)
        assert frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b) == pytest.approx(
            expected, rel=1e-9
        )


def test_symmetric_sqrt_of_2x2_matches_closed_form():
    matrix = np.array([[2.0, 1.0], [1.0, 3.0]])
    # sqrt(M) = (M + sqrt(det M) I) / sqrt(tr M + 2 sqrt(det M)) for 2x2 positive definite M.
    root_det = math.sqrt(np.linalg.det(matrix))
    expected = (matrix + root_det * np.eye(2)) / math.sqrt(np.trace(matrix) + 2.0 * root_det)
    np.testing.assert_allclose(symmetric_sqrt(matrix), expected, rtol=1e-12)


@pytest.mark.parametrize("dim", [2, 8])
def test_frechet_distance_from_samples_approximates_closed_form(dim):
    rng = np.random.default_rng(4 + dim)
    mean_a, mean_b = rng.normal(size=dim), rng.normal(size=dim)
    cov_a, cov_b = _random_spd(rng, dim), _random_spd(rng, dim)
    if dim == 2:
        expected = _frechet_2x2(mean_a, cov_a, mean_b, cov_b)
    else:
        # Independently of the symmetric form: tr((A B)^1/2) is the sum of the square roots
        # of the eigenvalues of A B, which are real and positive for SPD A and B.
        trace_sqrt = np.sum(np.sqrt(np.linalg.eigvals(cov_a @ cov_b).real))
        expected = (
            np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
        )
    features_a = rng.multivariate_normal(mean_a, cov_a, size=20000)
    features_b = rng.multivariate_normal(mean_b, cov_b, size=20000)
    assert frechet_distance(features_a, features_b) == pytest.approx(expected, rel=0.05, abs=0.02)


def test_symmetric_sqrt_is_real_and_finite_on_rank_deficient_covariance():
    _, cov = feature_moments(np.random.default_rng(5).normal(size=(5, 64)))
    assert np.min(np.linalg.eigvalsh(cov)) < 1e-10  # rank 4 at most: singular
    root = symmetric_sqrt(cov)
    assert root.dtype == np.float64 and np.all(np.isfinite(root))
    np.testing.assert_allclose(root, root.T, atol=1e-12)
    np.testing.assert_allclose(root @ root, cov, atol=1e-8)


def test_symmetric_sqrt_clips_eigenvalues_rounded_below_zero():
    rng = np.random.default_rng(6)
    basis, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    eigenvalues = np.array([3.0, 2.0, 1.0, 0.5, 1e-3, 0.0, -1e-12, -1e-12])
    cov = (basis * eigenvalues) @ basis.T
    root = symmetric_sqrt(cov)
    assert root.dtype == np.float64 and np.all(np.isfinite(root))
    assert np.min(np.linalg.eigvalsh(root)) > -1e-9
    np.testing.assert_allclose(root @ root, cov, atol=1e-9)


def test_frechet_distance_on_fewer_samples_than_dimensions_is_finite():
    rng = np.random.default_rng(7)
    features_a, features_b = rng.normal(size=(5, 64)), rng.normal(size=(5, 64))
    distance = frechet_distance(features_a, features_b)
    assert math.isfinite(distance) and distance > 0.0
    assert frechet_distance(features_a, features_a) == pytest.approx(0.0, abs=1e-8)


# --- Kernel distance --------------------------------------------------------------------------

SMALL_A = [[1.0, 0.0], [0.5, -1.0], [2.0, 1.5]]
SMALL_B = [[0.0, 1.0], [-1.0, 0.5], [1.0, 1.0], [0.25, -0.5]]


def _kernel_by_hand(x, y):
    return (sum(xi * yi for xi, yi in zip(x, y)) / len(x) + 1.0) ** 3


def _mmd2_by_hand(a, b):
    within_a = [_kernel_by_hand(a[i], a[j]) for i, j in itertools.permutations(range(len(a)), 2)]
    within_b = [_kernel_by_hand(b[i], b[j]) for i, j in itertools.permutations(range(len(b)), 2)]
    across = [_kernel_by_hand(x, y) for x in a for y in b]
    return (
        sum(within_a) / len(within_a)
        + sum(within_b) / len(within_b)
        - 2.0 * sum(across) / len(across)
    )


def test_polynomial_kernel_matches_hand_computation():
    got = polynomial_kernel(SMALL_A, SMALL_B)
    assert got.shape == (3, 4)
    for i, j in itertools.product(range(3), range(4)):
        assert got[i, j] == pytest.approx(_kernel_by_hand(SMALL_A[i], SMALL_B[j]), rel=1e-12)


def test_unbiased_mmd2_matches_hand_computation():
    assert unbiased_mmd2(SMALL_A, SMALL_B) == pytest.approx(
        _mmd2_by_hand(SMALL_A, SMALL_B), rel=1e-12
    )


def test_kernel_distance_with_subsets_as_large_as_the_sets_is_the_whole_set_estimate():
    # subset_size is capped at 3 rows, so every subset is a reordering of the whole sets.
    mean, std = kernel_distance(SMALL_A, SMALL_B[:3], num_subsets=5, subset_size=1000)
    assert mean == pytest.approx(_mmd2_by_hand(SMALL_A, SMALL_B[:3]), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_kernel_distance_of_one_subset_has_zero_std():
    rng = np.random.default_rng(8)
    features_a, features_b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    mean, std = kernel_distance(features_a, features_b, num_subsets=1, subset_size=300)
    assert std == 0.0  # not NaN: the spread of one estimate
    assert mean == pytest.approx(unbiased_mmd2(features_a, features_b), rel=1e-9)


def test_kernel_distance_is_seeded():
    rng = np.random.default_rng(9)
    features_a, features_b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    first = kernel_distance(features_a, features_b, num_subsets=4, subset_size=50, seed=1)
    assert kernel_distance(features_a, features_b, num_subsets=4, subset_size=50, seed=1) == first
    assert kernel_distance(features_a, features_b, num_subsets=4, subset_size=50, seed=2) != first


def test_kernel_distance_separates_same_from_different_distributions():
    rng = np.random.default_rng(10)
    features_a, features_b = rng.normal(size=(1000, 16)), rng.normal(size=(1000, 16))
    shifted = rng.normal(loc=1.0, size=(1000, 16))
    same_mean, same_std = kernel_distance(features_a, features_b, num_subsets=20, subset_size=500)
    diff_mean, diff_std = kernel_distance(features_a, shifted, num_subsets=20, subset_size=500)
    assert same_std > 0.0
    assert abs(same_mean) < 3.0 * same_std
    assert diff_mean > 10.0 * diff_std and diff_mean > 100.0 * abs(same_mean)


# --- Precision and recall ---------------------------------------------------------------------


def _precision_recall_by_hand(real, fake, k):
    def radii(points):
        return [
            sorted(math.dist(p, q) for j, q in enumerate(points) if j != i)[k - 1]
            for i, p in enumerate(points)
        ]

    def fraction_inside(queries, centres):
        balls = list(zip(centres, radii(centres)))
        return sum(any(math.dist(q, c) <= r for c, r in balls) for q in queries) / len(queries)

    return fraction_inside(fake, real), fraction_inside(real, fake)


def test_precision_recall_of_hand_written_points():
    # k=1 radii of real: 0->1, 1->1, 3->2, 6->3. Fake 4.5 lies within 3's ball, 9 exactly on
    # 6's boundary (counts as inside), -1.5 and 12 outside every ball. Every real point lies in
    # some fake ball (fake radii -1.5->6, 4.5->4.5, 9->3, 12->3).
    real = np.array([[0.0], [1.0], [3.0], [6.0]])
    fake = np.array([[-1.5], [4.5], [9.0], [12.0]])
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_precision_recall_matches_brute_force(k):
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(30, 2)), rng.normal(loc=0.7, scale=1.5, size=(25, 2))
    expected = _precision_recall_by_hand(real.tolist(), fake.tolist(), k)
    assert 0.0 < expected[0] < 1.0 and 0.0 < expected[1] < 1.0
    assert precision_recall(real, fake, k=k) == pytest.approx(expected, abs=1e-12)


def test_precision_recall_of_identical_sets_is_one():
    features = np.random.default_rng(12).normal(size=(200, 8))
    assert precision_recall(features, features) == (1.0, 1.0)


def test_precision_recall_of_disjoint_sets_is_zero():
    rng = np.random.default_rng(13)
    real, fake = rng.normal(size=(200, 8)), rng.normal(loc=100.0, size=(200, 8))
    assert precision_recall(real, fake) == (0.0, 0.0)


def test_precision_recall_when_fake_covers_half_the_modes():
    rng = np.random.default_rng(14)
    centres = np.array([[-50.0] * 4, [50.0] * 4])
    real = np.concatenate([rng.normal(loc=c, size=(200, 4)) for c in centres])
    fake = rng.normal(loc=centres[1], size=(400, 4))
    precision, recall = precision_recall(real, fake)
    assert precision > 0.9
    assert recall == pytest.approx(0.5, abs=0.05)


def test_precision_recall_does_not_depend_on_batch_size():
    rng = np.random.default_rng(15)
    real, fake = rng.normal(size=(53, 5)), rng.normal(loc=1.0, scale=1.5, size=(41, 5))
    unbatched = precision_recall(real, fake, batch_size=10000)
    assert 0.0 < unbatched[0] < 1.0 and 0.0 < unbatched[1] < 1.0
    assert precision_recall(real, fake, batch_size=7) == unbatched


# --- Errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("features, shape", [(np.zeros((1, 4)), "(1, 4)"), (np.zeros(5), "(5,)")])
def test_feature_moments_rejects_too_few_rows_or_wrong_rank(features, shape):
    with pytest.raises(ValueError, match=re.escape(shape)):
        feature_moments(features)


def test_frechet_distance_rejects_different_feature_dimensions():
    with pytest.raises(ValueError, match=r"\(10, 3\).*\(10, 4\)"):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))


def test_frechet_distance_from_moments_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"cov_b.*\(3, 3\)"):
        frechet_distance_from_moments(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))


def test_symmetric_sqrt_rejects_non_square():
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        symmetric_sqrt(np.zeros((2, 3)))


def test_kernel_distance_rejects_one_row_and_different_dimensions():
    with pytest.raises(ValueError, match=r"features_a.*\(1, 2\)"):
        unbiased_mmd2(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"\(5, 2\).*\(5, 3\)"):
        kernel_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="num_subsets must be >= 1, got 0"):
        kernel_distance(np.zeros((5, 2)), np.zeros((5, 2)), num_subsets=0)


def test_precision_recall_rejects_k_or_fewer_rows():
    with pytest.raises(ValueError, match=r"fake_features.*N >= 4.*k=3.*smaller k.*\(3, 2\)"):
        precision_recall(np.zeros((10, 2)), np.zeros((3, 2)), k=3)
    with pytest.raises(ValueError, match="k must be a whole number >= 1, got 0"):
        precision_recall(np.zeros((10, 2)), np.zeros((10, 2)), k=0)
