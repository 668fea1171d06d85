"""The domain classifier: trained on a dataset's labels so that its penultimate features can
measure generated images (FID, KID, precision/recall) without downloading anything."""

import keras
from keras import ops

from kgen.models.kgen_model import Endpoint
from kgen.models.kgen_model import KgenModel
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.training_steps import objective_test_step
from kgen.models.training_steps import objective_train_step


@keras.saving.register_keras_serializable(package="kgen")
class DomainClassifier(KgenModel):
    """Cross-entropy classifier whose `features` feed the sample-quality metrics.

    Args:
        feature_network: model from images in [0, 1] to feature vectors.
        head: model from feature vectors to class logits.
    """

    serving_default = "classify"
    sublayer_arguments = ("feature_network", "head")
    # The classifier predicts labels; it is not conditioned on them.
    num_classes = None

    def __init__(self, feature_network, head, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.image_shape = tuple(feature_network.inputs[0].shape[1:])
        # === Layers ===
        self.feature_network = feature_network
        self.head = head
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.built = True  # the networks arrive built

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker]

    def features(self, images, training=False):
        """[N, D] float32 features of images in [0, 1]."""
        return self.feature_network(images, training=training)

    def call(self, images, training=False):
        """Class logits of images in [0, 1] (or of a batch dict, as `fit` passes it)."""
        images, _ = self.unpack(images)
        return self.head(self.features(images, training), training=training)

    def per_example_terms(self, data, training=False):
        """Cross-entropy in nats, and 1.0 where the most likely class is the label."""
        images, labels = self.unpack(data)
        if labels is None:
            raise ValueError("DomainClassifier trains on labelled batches: {'image', 'label'}.")
        logits = self(images, training=training)
        labels = ops.cast(labels, "int32")
        return {
            "loss": keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True),
            "accuracy": ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), "float32"),
        }

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        return backend_train_step(self, objective_train_step, *args)

    def test_step(self, *args):
        return backend_test_step(self, objective_test_step, *args)

    def export_endpoints(self):
        image_spec = {"images": ((None, *self.image_shape), "float32")}

        def classify(images):
            # The features too: the evaluator reads them and the labels in one pass.
            features = self.features(images)
            logits = self.head(features)
            return {
                "features": features,
                "logits": logits,
                "probabilities": ops.softmax(logits),
                "labels": ops.cast(ops.argmax(logits, axis=-1), "int32"),
            }

        def features(images):
            return {"features": self.features(images)}

        return {
            "classify": Endpoint(classify, image_spec),
            "features": Endpoint(features, image_spec),
        }

    def reference_model(self):
        from kgen.models.reference_steps import ReferenceClassifier  # TensorFlow's: imported on use

        return ReferenceClassifier(self)

    def get_config(self):
        return self.config_with()
