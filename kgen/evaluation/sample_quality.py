"""Sample-quality metrics of a generative model: FID, KID and precision/recall between the
features of its samples and those of real images, by the same protocol for every family."""

from kgen.metrics import frechet_distance
from kgen.metrics import kernel_distance
from kgen.metrics import precision_recall

SAMPLE_QUALITY_METRICS = ("fid", "kid", "precision", "recall")
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # Binkowski et al. 2018
PRECISION_RECALL_K = 3  # Kynkäänniemi et al. 2019


class ReferenceSet:
    """Features of real images, computed once and compared with many sample sets.

    Args:
        extractor: images -> [N, D] features (ClassifierFeatures or InceptionFeatures).
        images: the real images, [N, H, W, C] in [0, 1].
        labels: their labels, or None; a classifier's accuracy on them joins the protocol.
        split: the split they come from, naming that accuracy.
    """

    def __init__(self, extractor, images, labels=None, split="reference"):
        self.extractor = extractor
        self.num_images = len(images)
        self.features, accuracy = extractor.measure(images, labels, split)
        self.extractor_protocol = {**extractor.description, **accuracy}

    def compare(self, images, metrics=SAMPLE_QUALITY_METRICS, seed=0):
        """The named metrics of `images` against the real images: {"fid": float,
        "kid": {"mean", "std"}, "precision": float, "recall": float}."""
        features = self.extractor(images)
        results = {}
        if "fid" in metrics:
            results["fid"] = frechet_distance(self.features, features)
        if "kid" in metrics:
            mean, std = kernel_distance(
                self.features,
                features,
                num_subsets=KID_SUBSETS,
                subset_size=KID_SUBSET_SIZE,
                seed=seed,
            )
            results["kid"] = {"mean": mean, "std": std}
        if "precision" in metrics or "recall" in metrics:
            precision, recall = precision_recall(self.features, features, k=PRECISION_RECALL_K)
            results.update(
                {
                    name: value
                    for name, value in (("precision", precision), ("recall", recall))
                    if name in metrics
                }
            )
        return results

    def protocol(self, num_generated):
        """What the figures depend on, for the JSON report."""
        return {
            "feature_extractor": self.extractor_protocol,
            "num_generated": num_generated,
            "num_reference": self.num_images,
            "kid": {
                "kernel": "(x.y / d + 1)^3",
                "subsets": KID_SUBSETS,
                "subset_size": min(KID_SUBSET_SIZE, self.num_images, num_generated),
            },
            "precision_recall": {"k": PRECISION_RECALL_K},
        }
