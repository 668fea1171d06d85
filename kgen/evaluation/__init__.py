"""Evaluating trained models: likelihood figures and sample quality (FID, KID,
precision/recall) over a dataset split, by one protocol for every family."""

from kgen.evaluation.features import ClassifierFeatures
from kgen.evaluation.features import InceptionFeatures
from kgen.evaluation.features import cached_domain_classifier
from kgen.evaluation.harness import PROTOCOLS
from kgen.evaluation.harness import evaluate
from kgen.evaluation.harness import log_to_tensorboard
from kgen.evaluation.harness import resolve_importance_samples
from kgen.evaluation.harness import resolve_metrics
from kgen.evaluation.likelihood import evaluate_likelihood
from kgen.evaluation.loading import load_model
from kgen.evaluation.loading import load_split
from kgen.evaluation.sample_quality import ReferenceSet
