"""TF Serving's warm-up requests: `assets.extra/tf_serving_warmup_requests`, a TFRecord file
of PredictionLog records that TF Serving replays when it loads a version, before the version
takes traffic, so that the first clients do not wait while each signature is first run."""

import os

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2

WARMUP_REQUESTS = os.path.join("assets.extra", "tf_serving_warmup_requests")


def warmup_inputs(inputs):
    """A small valid request (numpy arrays by input name) for a signature whose `inputs` map
    each name to (shape, dtype): one row of zeros (a black image, the prior's mean code,
    label 0, seed 0), and `num` 1, so that a sampler draws an image."""
    arrays = {}
    for name, (shape, dtype) in inputs.items():
        shape = tuple(1 if size is None else size for size in shape)
        arrays[name] = np.ones(shape, dtype) if name == "num" else np.zeros(shape, dtype)
    return arrays


def prediction_log(signature_name, arrays):
    """A PredictionLog holding a Predict request for `signature_name` with `arrays`."""
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature_name
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def write_warmup_requests(folder, signature_inputs):
    """Write one warm-up request per signature (name -> its inputs, as `warmup_inputs`
    takes them) under `folder`, in name order."""
    path = os.path.join(folder, WARMUP_REQUESTS)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for name, inputs in sorted(signature_inputs.items()):
            writer.write(prediction_log(name, warmup_inputs(inputs)).SerializeToString())
