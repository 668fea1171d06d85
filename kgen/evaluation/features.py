"""Feature extractors that sample-quality metrics compare images with: a domain classifier
kgen trains itself (offline; `kgen.workflows` trains it, this module finds it in the
cache), or InceptionV3 pool features (the standard FID protocol)."""

import json
import os

import numpy as np
import tensorflow as tf

from kgen.errors import ConfigError
from kgen.export.saved_model import load_saved_model
from kgen.export.saved_model import resolve_saved_model
from kgen.utils.files import safe_name

INCEPTION_SIZE = 299
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
                f"The domain classifier takes images shaped {self.image_shape}, "
                f"got {images.shape[1:]}; "
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
                "--inception-weights FILE "
                "(inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5) "
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


def classifier_folder(dataset, image_size=None, train_limit=None):
    """Where the domain classifier of `dataset` (at `image_size`, trained on the first
    `train_limit` examples) is cached."""
    name = safe_name(dataset)  # a folder or .npz path is a dataset too
    name += (f"-{image_size}px" if image_size else "") + (
        f"-first{train_limit}" if train_limit else ""
    )
    return os.path.join(cache_root(), "classifiers", name)


def cached_domain_classifier(dataset, *, image_size=None, train_limit=None):
    """The domain classifier of `dataset` as ClassifierFeatures, or None when none is cached
    (`kgen.workflows.domain_classifier` trains one). The record that marks it ready is
    written last, so a classifier whose training was interrupted is not taken."""
    folder = classifier_folder(dataset, image_size, train_limit)
    record_path = os.path.join(folder, CLASSIFIER_RECORD)
    if not os.path.isfile(record_path):
        return None
    with open(record_path) as stream:
        return ClassifierFeatures(
            os.path.join(folder, "saved_model"), description=json.load(stream)
        )
