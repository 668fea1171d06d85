"""Evaluating trained models: likelihood figures over a dataset split."""

from kgen.evaluation.likelihood import evaluate_likelihood
from kgen.evaluation.loading import load_model
