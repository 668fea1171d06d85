"""What the CLI and the Python API run: the steps that span training, evaluation and export.

The layers below each do one thing (`kgen.training` trains, `kgen.evaluation` measures,
`kgen.export` writes SavedModels); a workflow strings them together: train then export,
train a domain classifier when one is missing, measure samples during training.
"""

from kgen.workflows.classifiers import domain_classifier
from kgen.workflows.classifiers import feature_extractor
from kgen.workflows.exports import export_model
from kgen.workflows.runs import export_run
from kgen.workflows.runs import train
