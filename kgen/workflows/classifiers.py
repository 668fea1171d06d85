"""The feature extractor sample-quality metrics use, with the domain classifier of a
dataset trained (and cached) on first use."""

import os

from tensorflow.python.framework import config as tf_config

from kgen.data import images_and_labels
from kgen.data import labelled_twin
from kgen.data import load_source
from kgen.errors import ConfigError
from kgen.errors import DataError
from kgen.evaluation.features import CLASSIFIER_RECORD
from kgen.evaluation.features import ClassifierFeatures
from kgen.evaluation.features import InceptionFeatures
from kgen.evaluation.features import cached_domain_classifier
from kgen.evaluation.features import classifier_folder
from kgen.export.saved_model import ExportMetadata
from kgen.export.saved_model import find_saved_model
from kgen.models import ClassifierConfig
from kgen.training.config import TrainConfig
from kgen.training.driver import fit
from kgen.utils.files import write_json
from kgen.workflows.exports import export_model

# Epochs the cached domain classifier trains for: 99.19% test accuracy on MNIST (docs/results.md).
CLASSIFIER_EPOCHS = 5


def feature_extractor(
    features,
    dataset,
    dataset_info,
    *,
    classifier=None,
    inception_weights=None,
    image_size=None,
    data_dir=None,
    manual_dir=None,
    announce=None,
    train_missing=True,
):
    """The extractor sample-quality metrics use.

    Args:
        features: "classifier" (a domain classifier; offline) or "inception" (InceptionV3).
        dataset: the spec the reference images come from; its domain classifier (or that of
            its labelled twin) is trained and cached on first use.
        dataset_info: the reference data's DatasetInfo.
        classifier: a classifier SavedModel path, or the labelled dataset to train one on.
        inception_weights: a local InceptionV3 weights file (None: download).
        train_missing: train a domain classifier not cached yet (False: a ConfigError).
    """
    if features == "inception":
        return InceptionFeatures(inception_weights)
    if classifier and find_saved_model(classifier):
        return ClassifierFeatures(classifier, description={"trained_on": None})
    source = classifier or labelled_twin(dataset)
    if source == dataset and not dataset_info.num_classes:
        raise ConfigError(
            f"Dataset {dataset!r} has no labels to train a domain classifier on: pass --classifier "
            "with a labelled dataset of the same images or a classifier SavedModel, or use "
            "--features inception."
        )
    return domain_classifier(
        source,
        image_size=image_size,
        data_dir=data_dir,
        manual_dir=manual_dir,
        announce=announce,
        train_missing=train_missing,
    )


def domain_classifier(
    dataset,
    *,
    image_size=None,
    data_dir=None,
    manual_dir=None,
    announce=None,
    train_limit=None,
    train_missing=True,
):
    """The cached domain classifier of `dataset` (a labelled dataset), trained and exported
    on first use, as ClassifierFeatures whose description holds its test accuracy (None
    when the dataset has no test split).

    Training resumes if an earlier first use was interrupted; the record that marks the
    classifier ready is written last, atomically. `train_limit` trains on only the first N
    examples (a quicker, weaker classifier, cached apart). With `train_missing=False` a
    classifier not cached yet is a ConfigError instead (for callers that cannot train one).
    """
    cached = cached_domain_classifier(dataset, image_size=image_size, train_limit=train_limit)
    if cached is not None:
        return cached
    folder = classifier_folder(dataset, image_size, train_limit)
    if not train_missing:
        raise ConfigError(
            f"No {dataset} domain classifier is cached in {folder} yet: train it first in a "
            "single process (`kgen eval` with the classifier features, or `kgen fit MODEL "
            "--fid-every N` without --strategy multi-worker, caches it), or pass a SavedModel "
            "from `kgen fit classifier`."
        )
    return _train_domain_classifier(
        dataset, folder, image_size, data_dir, manual_dir, announce, train_limit
    )


def _train_domain_classifier(
    dataset, folder, image_size, data_dir, manual_dir, announce, train_limit
):
    if announce:
        announce(
            f"Training the {dataset} domain classifier for the sample-quality metrics "
            f"(first use, {CLASSIFIER_EPOCHS} epochs; cached in {folder})."
        )
    train_config = TrainConfig(
        dataset=dataset,
        data_dir=data_dir,
        manual_dir=manual_dir,
        image_size=image_size,
        limit=train_limit,
        epochs=CLASSIFIER_EPOCHS,
        seed=0,
        logdir=os.path.join(folder, "run"),
        # One device: the classifier is small, and the caller (`fit --fid-every`) makes a
        # MirroredStrategy of its own; two in one process collide even one after the other
        # ("Shape mismatch in the collective instance": both number their collectives alike).
        strategy="one-device",
        export=os.path.join(folder, "saved_model"),
        checkpoint_every=0,
        log_every=0,
    )
    # Seed 0 turns op determinism on for the whole process, which the cached classifier wants
    # (its accuracy figure is reproducible) but the caller's own run may not (no --seed): put
    # the caller's setting back. TensorFlow exports no public switch to turn it off;
    # disable_op_determinism is the counterpart of enable_op_determinism in the same module.
    deterministic = tf_config.is_op_determinism_enabled()
    try:
        # Told `announce`, it says its device, plan and time estimate as `kgen fit` does.
        result = fit("classifier", ClassifierConfig(), train_config, verbose=1, announce=announce)
    finally:
        if not deterministic:
            tf_config.disable_op_determinism()
    metadata = ExportMetadata(family="classifier", dataset=dataset, step=result.final_step)
    exported = export_model(result.model, train_config.export, metadata=metadata)
    classifier = ClassifierFeatures(exported)
    record = {
        "trained_on": dataset,
        "epochs": CLASSIFIER_EPOCHS,
        "train_limit": train_limit,
        "test_accuracy": None,
        "test_images": 0,
    }
    try:  # the accuracy on the whole test split, which training may have seen only part of
        test, _ = load_source(
            dataset, "test", data_dir=data_dir, manual_dir=manual_dir, image_size=image_size
        )
    except DataError:  # folders and .npz files have only a train split
        test = None
    if test is not None:
        images, labels = images_and_labels(test)
        record.update(test_accuracy=classifier.accuracy(images, labels), test_images=len(images))
    write_json(os.path.join(folder, CLASSIFIER_RECORD), record)
    classifier.description.update(record)
    return classifier
