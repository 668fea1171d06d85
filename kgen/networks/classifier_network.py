"""The domain classifier's networks: a small conv net whose penultimate layer gives the
features that FID, KID and precision/recall compare, and a linear head over them."""

import keras
from keras import layers

from kgen.networks.common import check_square
from kgen.networks.common import downsampling_steps


def build_feature_network(image_shape, *, base_filters=32, feature_units=128, dropout=0.3):
    """Image in [0, 1] -> a `feature_units` vector (ReLU), two 3x3 convs per stage, each
    stage halving the resolution and doubling the filters."""
    check_square(image_shape)
    image = keras.Input(shape=image_shape, name="image")
    x = image
    for stage in range(downsampling_steps(image_shape[0])):
        filters = base_filters * 2**stage
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Dropout(dropout)(layers.Flatten()(x))
    # float32 features: the metrics take means and covariances of them.
    features = layers.Dense(feature_units, activation="relu", dtype="float32", name="features")(x)
    return keras.Model(image, features, name="feature_network")


def build_classifier_head(feature_units, num_labels, *, dropout=0.3):
    """Features -> class logits (dropout on the features while training)."""
    features = keras.Input(shape=(feature_units,), name="features")
    logits = layers.Dense(num_labels, dtype="float32", name="logits")(
        layers.Dropout(dropout)(features)
    )
    return keras.Model(features, logits, name="classifier_head")
