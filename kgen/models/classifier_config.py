"""Settings of the domain classifier, and the builder the driver calls."""

import dataclasses

import keras

from kgen.errors import ConfigError
from kgen.models.classifier import DomainClassifier
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import at_least
from kgen.models.config_fields import positive
from kgen.models.config_fields import setting
from kgen.models.config_fields import unit_interval
from kgen.models.registry import ModelFamily
from kgen.models.registry import register_family
from kgen.networks.classifier_network import build_classifier_head
from kgen.networks.classifier_network import build_feature_network


@dataclasses.dataclass
class ClassifierConfig(CheckedSettings):
    """Hyperparameters of the domain classifier; defaults reach 99% test accuracy on MNIST in
    5 epochs (99.19%, docs/results.md)."""

    base_filters: int = setting(
        32, "Filters of the first conv stage; doubled at each stage.", at_least(1)
    )
    feature_units: int = setting(
        128, "Size of the feature vector the sample-quality metrics use.", at_least(1)
    )
    dropout: float = setting(
        0.3, "Dropout rate before the feature and logit layers.", unit_interval()
    )
    learning_rate: float = setting(1e-3, "Adam learning rate.", positive())


def build_classifier(config, dataset_info, seed=None, jit_compile=False):
    """Networks, model and optimizer for `config` on data shaped like `dataset_info`."""
    if not dataset_info.num_classes:
        raise ConfigError(
            f"A domain classifier needs class labels, but dataset {dataset_info.name!r} has none; "
            "train it on a labelled dataset of the same images (e.g. mnist for binarized_mnist)."
        )
    model = DomainClassifier(
        feature_network=build_feature_network(
            dataset_info.image_shape,
            base_filters=config.base_filters,
            feature_units=config.feature_units,
            dropout=config.dropout,
        ),
        head=build_classifier_head(
            config.feature_units, dataset_info.num_classes, dropout=config.dropout
        ),
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile)
    return model


CLASSIFIER = register_family(
    ModelFamily(
        name="classifier",
        config_class=ClassifierConfig,
        build=build_classifier,
        default_dataset="mnist",
        summary=(
            "Domain classifier whose features kgen eval measures samples with "
            "(FID, KID, precision/recall)."
        ),
    )
)
