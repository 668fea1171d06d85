"""Feature extractors that sample-quality metrics compare images with: a domain classifier
kgen trains itself (offline), or InceptionV3 pool features (the standard FID protocol)."""

import json
import os

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from kgen.data import images_and_labels
from kgen.errors import ConfigError
from kgen.export.saved_model import load_saved_model
from kgen.export.saved_model import resolve_saved_model
from kgen.utils.files import safe_name
from kgen.utils.files import write_json

INCEPTION_SIZE = 299
# Epochs the cached domain classifier trains for: 99.19% test accuracy on MNIST (docs/results.md).
CLASSIFIER_EPOCHS = 5
CLASSIFIER_RECORD = "classifier.json"


class ClassifierFeatures:
    """Penultimate features of a domain classifier SavedModel, read with its predicted
    labels from one pass through its `classify` signature.

    Args:
        path: the SavedModel (or its base folder with version folders).
        description: what the JSON protocol records about it (dataset, test accuracy, ...).
    """

    def __init__(self, path, description=None):
        self.path = resolve_saved_model(path)
        loaded = load_saved_model(self.path)
        classify = loaded.signatures.get("classify")
        if classify is None or "features" not in classify.structured_outputs:
            raise ConfigError(
                f"The SavedModel at {path!r} has no `classify` signature with features; "
                "pass a classifier written by `kgen fit classifier`."
            )
        self._loaded = loaded  # keeps the signature's variables alive
        self._classify = classify
        self.image_shape = tuple(classify.structured_input_signature[1]["images"].shape[1:])
        self.description = {
            "name": "domain_classifier",
            "saved_model": os.path.abspath(self.path),
            **(description or {}),
        }

    def _features_and_labels(self, images, batch_size=500):
        images = np.asarray(images, np.float32)
        if images.shape[1:] != self.image_shape:
            raise ConfigError(
                f"The domain classifier takes images shaped {self.image_shape}, got {images.shape[1:]}; "
                "pass --classifier with one trained on images of this size."
            )
        features, labels = [], []
        for start in range(0, len(images), batch_size):
            outputs = self._classify(images=tf.constant(images[start : start + batch_size]))
            features.append(outputs["features"].numpy())
            labels.append(outputs["labels"].numpy())
        return np.concatenate(features).astype(np.float64), np.concatenate(labels)

    def __call__(self, images):
        """[N, D] float64 features of images in [0, 1]."""
        return self._features_and_labels(images)[0]

    def accuracy(self, images, labels):
        """Fraction of `images` whose predicted label is `labels`."""
        return float(np.mean(self._features_and_labels(images)[1] == np.asarray(labels)))

    def measure(self, images, labels=None, split="reference"):
        """(features, protocol additions) of real images: with labels, the classifier's
        accuracy on them as `<split>_accuracy`, unless its description already has it."""
        features, predicted = self._features_and_labels(images)
        key = f"{split}_accuracy"
        if labels is None or key in self.description:
            return features, {}
        return features, {key: float(np.mean(predicted == np.asarray(labels)))}


class InceptionFeatures:
    """2048-d average-pool features of ImageNet InceptionV3, as the standard FID protocol
    takes them: images resized (bilinear) to 299 x 299, grey repeated to 3 channels,
    scaled to [-1, 1].

    Args:
        weights: a local weights file for `keras.applications.InceptionV3(include_top=False)`,
            or None to download the ImageNet weights (needs internet once; Keras caches them).
    """

    def __init__(self, weights=None):
        import keras

        try:
            self.network = keras.applications.InceptionV3(
                include_top=False,
                pooling="avg",
                weights=weights or "imagenet",
                input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3),
            )
        except Exception as error:  # no network, a bad file: one message either way
            where = f"from {weights!r}" if weights else "(download failed)"
            raise ConfigError(
                f"Could not load the InceptionV3 ImageNet weights {where}: {error}. Pass "
                "--inception-weights FILE (inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5) "
                "or use the domain classifier (--features classifier), which works offline."
            ) from None
        self._embed = tf.function(self._embed_batch)
        self.description = {
            "name": "inception_v3",
            "weights": weights or "imagenet",
            "input_size": INCEPTION_SIZE,
            "feature_dim": 2048,
        }

    def _embed_batch(self, images):
        images = tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), method="bilinear")
        if images.shape[-1] == 1:
            images = tf.repeat(images, 3, axis=-1)
        return self.network(images * 2.0 - 1.0, training=False)

    def __call__(self, images, batch_size=50):
        """[N, 2048] float64 features of images in [0, 1]."""
        images = np.asarray(images, np.float32)
        batches = [
            self._embed(tf.constant(images[start : start + batch_size])).numpy()
            for start in range(0, len(images), batch_size)
        ]
        return np.concatenate(batches).astype(np.float64)

    def measure(self, images, labels=None, split="reference"):
        """(features, protocol additions) of real images: none for InceptionV3."""
        return self(images), {}


def cache_root():
    """Where kgen caches what it trains for itself: $KGEN_CACHE_DIR or ~/.cache/kgen."""
    return os.environ.get("KGEN_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "kgen"
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
    name = safe_name(dataset)  # a folder or .npz path is a dataset too
    name += (f"-{image_size}px" if image_size else "") + (
        f"-first{train_limit}" if train_limit else ""
    )
    folder = os.path.join(cache_root(), "classifiers", name)
    record_path = os.path.join(folder, CLASSIFIER_RECORD)
    if os.path.isfile(record_path):
        with open(record_path) as stream:
            return ClassifierFeatures(
                os.path.join(folder, "saved_model"), description=json.load(stream)
            )
    if not train_missing:
        raise ConfigError(
            f"No {dataset} domain classifier is cached in {folder} yet: train it first in a single "
            "process (`kgen eval` with the classifier features, or `kgen fit MODEL --fid-every N` "
            "without --strategy multi-worker, caches it), or pass a SavedModel from `kgen fit classifier`."
        )
    return _train_domain_classifier(
        dataset, folder, image_size, data_dir, manual_dir, announce, train_limit
    )


def _train_domain_classifier(
    dataset, folder, image_size, data_dir, manual_dir, announce, train_limit
):
    from kgen.data import load_source
    from kgen.errors import DataError
    from kgen.models import ClassifierConfig
    from kgen.training import TrainConfig
    from kgen.training import fit

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
        result = fit("classifier", ClassifierConfig(), train_config, verbose=1)
    finally:
        if not deterministic:
            tf_config.disable_op_determinism()
    classifier = ClassifierFeatures(result.export_dir)
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
