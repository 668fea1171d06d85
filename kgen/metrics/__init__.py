"""Sample-quality metrics over feature vectors: Fréchet distance, kernel distance, precision
and recall.
"""

from kgen.metrics.frechet import feature_moments
from kgen.metrics.frechet import frechet_distance
from kgen.metrics.frechet import frechet_distance_from_moments
from kgen.metrics.frechet import symmetric_sqrt
from kgen.metrics.kernel_distance import kernel_distance
from kgen.metrics.kernel_distance import polynomial_kernel
from kgen.metrics.kernel_distance import unbiased_mmd2
from kgen.metrics.precision_recall import precision_recall

__all__ = [
    "feature_moments",
    "frechet_distance",
    "frechet_distance_from_moments",
    "kernel_distance",
    "polynomial_kernel",
    "precision_recall",
    "symmetric_sqrt",
    "unbiased_mmd2",
]
