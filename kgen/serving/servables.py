"""One loaded version of a served model: its signatures (inputs, outputs, how to call them),
its SignatureDefs for the metadata route, and its warm-up from TF Serving's warm-up file."""

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import prediction_log_pb2

from kgen.serving.status import from_tensorflow
from kgen.serving.status import invalid_argument

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# TF Serving reads at most this many warm-up records (saved_model_warmup_util).
MAX_WARMUP_RECORDS = 1000
PREDICT_METHOD = "tensorflow/serving/predict"


class Signature:
    """A callable signature: `inputs` and `outputs` map names to (numpy dtype, shape with
    None for free dimensions); `batchable` when every input and output has a free leading
    batch dimension (row format, server-side batching)."""

    def __init__(self, name, function, signature_def):
        self.name = name
        self.function = function
        self.method_name = signature_def.method_name
        self.inputs = {key: _spec(info) for key, info in signature_def.inputs.items()}
        self.outputs = {key: _spec(info) for key, info in signature_def.outputs.items()}
        self.batchable = all(
            shape is not None and len(shape) >= 1 and shape[0] is None
            for _, shape in [*self.inputs.values(), *self.outputs.values()]
        )

    def check_inputs(self, inputs):
        """Refuse arrays whose rank or fixed dimensions differ from the signature's, with a
        message naming the input and both shapes (before anything runs)."""
        for key, array in inputs.items():
            _, shape = self.inputs[key]
            if shape is None:
                continue
            fits = len(shape) == array.ndim and all(
                want is None or want == have for want, have in zip(shape, array.shape)
            )
            if not fits:
                raise invalid_argument(
                    f"Input '{key}' of signature '{self.name}' has shape "
                    f"{_shape_text(array.shape)}; the signature takes {_shape_text(shape)} "
                    "(-1: any size)."
                )

    def __call__(self, inputs):
        """Outputs (name -> numpy) for inputs (name -> numpy); TensorFlow errors become
        ServingErrors with their own code (an in-graph guard's InvalidArgument is a 400)."""
        tensors = {
            key: tf.convert_to_tensor(array, dtype=tf.as_dtype(self.inputs[key][0]))
            for key, array in inputs.items()
        }
        try:
            outputs = self.function(**tensors)
        except tf.errors.OpError as error:
            raise from_tensorflow(error) from None
        except (TypeError, ValueError) as error:
            raise invalid_argument(str(error).splitlines()[0]) from None
        return {key: value.numpy() for key, value in outputs.items()}


def _spec(tensor_info):
    dtype = tf.dtypes.as_dtype(tensor_info.dtype).as_numpy_dtype
    if tensor_info.tensor_shape.unknown_rank:
        return dtype, None
    return dtype, tuple(None if dim.size < 0 else dim.size for dim in tensor_info.tensor_shape.dim)


def _shape_text(shape):
    return "[" + ",".join("-1" if size is None else str(size) for size in shape) + "]"


class ServableVersion:
    """A SavedModel version loaded for serving: signatures by name, the SignatureDefs as
    written (the metadata route shows them as TF Serving does), the folder it came from."""

    def __init__(self, name, version, path):
        self.name = name
        self.version = version
        self.path = path
        self.signature_defs = _read_signature_defs(path)
        loaded = tf.saved_model.load(path)
        self._loaded = loaded  # keeps the variables the signatures read alive
        self.signatures = {
            key: Signature(key, loaded.signatures[key], self.signature_defs[key])
            for key in self.signature_defs
            if key in loaded.signatures
        }
        self.in_flight = 0  # requests using this version now (changed on the event loop)

    def signature(self, name, verb="predict"):
        """The signature `name`, with TF Serving's error for `verb`'s route when there is none."""
        found = self.signatures.get(name)
        if found is None:
            if verb == "predict":
                raise invalid_argument(
                    f'Serving signature name: "{name}" not found in signature def'
                )
            raise invalid_argument(f"No signature was found with the name: {name}")
        return found

    def warm_up(self):
        """Run the requests of the version's warm-up file (TF Serving's format: PredictionLog
        records), so that the first real request does not pay for tracing. A record that
        fails fails the load, as in TF Serving."""
        path = os.path.join(self.path, WARMUP_FILE)
        if not os.path.isfile(path):
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if log.WhichOneof("log_type") != "predict_log":
                raise ValueError(f"{path}: only predict_log warm-up records are supported.")
            request = log.predict_log.request
            signature = self.signature(request.model_spec.signature_name or "serving_default")
            inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
            signature(inputs)
            count += 1
        return count


def _read_signature_defs(path):
    """The `serve` MetaGraph's SignatureDefs, straight from saved_model.pb."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{path}: the SavedModel has no MetaGraph tagged 'serve'.")
