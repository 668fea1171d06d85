"""The protocol every model kgen trains offers to the driver, callbacks and exporter:
export endpoints, TensorBoard images, optimizer state, serialization, metric trackers."""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from kgen.models.jax_trainer_state import ExtraOptimizersJaxState
from kgen.utils.labels import label_range_problem


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A function the exporter writes into a SavedModel as a named signature.

    `inputs` maps each argument name to (shape, dtype), None for a free dimension; the
    function takes those as keyword arguments and returns a dict of named tensors.
    """

    function: Callable
    inputs: dict


class KgenModel(ExtraOptimizersJaxState, keras.Model):
    """Base of every model `kgen fit` trains: the generative families and the domain
    classifier that sample-quality metrics take their features from.

    Subclasses set `image_shape` and `num_classes`, implement `export_endpoints` and name
    their `serving_default` endpoint. Images outside the model are float32 in [0, 1],
    shape [N, H, W, C].
    """

    # Seed of the fixed batch that TensorBoard grids are drawn from, so epochs compare.
    summary_seed = 1234
    serving_default = None
    # Whether in-process sampling should run under XLA by default (`--jit-compile auto`):
    # worth it for samplers that loop over many small ops. Exported signatures stay plain
    # graphs, which every TensorFlow runtime (TF Serving included) executes.
    sample_jit_compile = False
    # Constructor arguments that are Keras layers or models: `get_config` serializes them and
    # `from_config` rebuilds them (e.g. the VAE's encoder and decoder).
    sublayer_arguments = ()

    def export_endpoints(self):
        """Named endpoints (name -> Endpoint) the exporter writes as SavedModel signatures."""
        raise NotImplementedError

    def serving_metadata(self):
        """What a client needs to know about the model before calling its signatures, as
        JSON values (the export writes them into `assets.extra/kgen.json`): `image_shape`,
        `num_classes` (None unless conditional), `latent_dim` and `likelihood` (names of
        what the family has, else None)."""
        return {
            "image_shape": [int(size) for size in self.image_shape],
            "latent_dim": None,
            "num_classes": None if self.num_classes is None else int(self.num_classes),
            "likelihood": None,
        }

    def image_summaries(self, images, labels=None):
        """Image grids (name -> images in [0, 1]) that TensorBoard shows each epoch."""
        return {}

    def build_optimizer_state(self):
        """Create the optimizer's slot variables now, so a checkpoint can restore them.

        Keras optimizers create their slots lazily on the first step, too late for
        tf.train.Checkpoint, which would silently drop the saved Adam moments. Families
        with several optimizers build each with its own variables.
        """
        self.optimizer.build(self.trainable_variables)

    def benchmark_samplers(self):
        """Extra samplers `kgen bench` times, by name: {name: draw(num)}, reported as
        `<name>_images_per_s` (e.g. PixelCNN's naive reference sampler)."""
        return {}

    def reference_model(self):
        """A minimal Keras model training this model's own networks with a textbook
        `train_step` (see `kgen.models.reference_steps`): the yardstick `kgen bench
        --reference` times this model's step against. Build it in the strategy's scope."""
        raise NotImplementedError(f"{type(self).__name__} has no reference step.")

    # --- Serialization ---

    def config_with(self, **settings):
        """`get_config` for subclasses: the base config, the sublayer arguments serialized,
        and the plain `settings` given."""
        config = super().get_config()
        for name in self.sublayer_arguments:
            config[name] = keras.saving.serialize_keras_object(getattr(self, name))
        config.update(settings)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for name in cls.sublayer_arguments:
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)

    # --- Helpers for subclasses ---

    def checked_labels(self, labels):
        """`labels` as int32 for a class-conditional model (which needs them), else None.

        Labels known now (Python ints, numpy, an eager tensor) must lie in [0, num_classes):
        a ValueError names the first that does not. Symbolic labels (inside a traced
        function) cannot be read here and pass unchecked.
        """
        if not self.num_classes:
            return None
        if labels is None:
            raise ValueError(
                f"This {type(self).__name__} is conditional: pass `labels` (one int per image)."
            )
        values = _concrete_values(labels)
        if values is not None:
            problem = label_range_problem(values, self.num_classes)
            if problem:
                raise ValueError(f"Bad `labels` for this {type(self).__name__}: {problem}.")
        return ops.convert_to_tensor(labels, "int32")

    def with_label(self, x, labels):
        """A functional network's input: `x`, or [x, labels] when the model is conditional."""
        labels = self.checked_labels(labels)
        return x if labels is None else [ops.convert_to_tensor(x), labels]

    @staticmethod
    def unpack(data):
        """(images, labels or None) from a batch dict, a tuple or a bare tensor."""
        if isinstance(data, dict):
            return data["image"], data.get("label")
        if isinstance(data, (tuple, list)):
            return data[0], (data[1] if len(data) > 1 else None)
        return data, None

    def update_trackers(self, per_example):
        """Feed per-example values into the Mean trackers of the same names; return results."""
        for tracker in self.metrics:
            tracker.update_state(per_example[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.metrics}


def _concrete_values(values):
    """`values` as a numpy array when they are known now, or None when they are symbolic
    (a functional model's input, or a tensor inside a traced function)."""
    if isinstance(values, keras.KerasTensor):
        return None
    if not ops.is_tensor(values):
        return np.asarray(values)
    # Eager tensors hold their values; TensorFlow's symbolic (graph) tensors have no `numpy`.
    numpy = getattr(values, "numpy", None)
    return None if numpy is None else numpy()
