"""SavedModel export in TF Serving's layout: `<base>/<version>/` with named signatures.

Each model's `export_endpoints()` becomes one signature; the model's `serving_default` names
the one TF Serving calls when none is given. A version is written into a temporary folder and
renamed into place, so neither TF Serving (which watches the base folder) nor a reader ever
sees half a model. The model's `.keras` archive is written beside the graph; under
`assets.extra/`, the folder TF Serving leaves to the exporter, go what a client needs to know
before calling a signature (`kgen.json`: image shape, classes, limits, signatures) and the
requests TF Serving warms each signature with (`kgen.export.warmup`). Each signature checks
its inputs in the graph (`kgen.export.guards`).
"""

import dataclasses
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

import kgen
from kgen.errors import ConfigError
from kgen.errors import ModelNotFound
from kgen.export.guards import SignatureFacts
from kgen.export.guards import input_checks
from kgen.export.warmup import write_warmup_requests

KERAS_ARCHIVE = "model.keras"
# Images one sampling request may ask for unless the export says otherwise: a grid of
# hundreds fits, while a request for millions cannot keep a server busy for minutes.
DEFAULT_MAX_SAMPLE_NUM = 1000
# The most an export may allow (`kgen export --max-sample-num`): 100000 MNIST images are
# already 300 MB of float32 in one response.
MAX_SAMPLE_NUM_LIMIT = 100_000
METADATA = os.path.join("assets.extra", "kgen.json")


@dataclasses.dataclass(frozen=True)
class ExportMetadata:
    """What the exporter records about a model that the model itself does not know.

    Attributes:
        family: the registered family name (`kgen fit NAME`), or None.
        dataset: the name of the dataset it was trained on, or None.
        step: the global training step of its weights, or None.
    """

    family: str | None = None
    dataset: str | None = None
    step: int | None = None


def _signature_function(endpoint, facts):
    """The endpoint as a tf.function with its input signature, checking its inputs first
    (see `kgen.export.guards`)."""
    specs = [
        tf.TensorSpec(shape, dtype, name=arg) for arg, (shape, dtype) in endpoint.inputs.items()
    ]
    arg_names = list(endpoint.inputs)
    name = facts.name

    def run(*args):
        inputs = dict(zip(arg_names, args))
        with tf.control_dependencies(input_checks(inputs, facts)):
            inputs = {arg: tf.identity(value) for arg, value in inputs.items()}
        return endpoint.function(**inputs)

    run.__name__ = name
    return tf.function(run, input_signature=specs, autograph=False)


class _ServingModule(tf.Module):
    """What the SavedModel tracks: the model's variables and the endpoint functions."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        # The variables are tracked explicitly, so that no layer's tracking rules matter, and
        # as the tf.Variables under the Keras wrappers: tracking a wrapper makes the saver
        # restore a copy of it while the signatures read the original, so that a
        # graph-and-session loader (TF Serving's C++ loader, tf.compat.v1's) finds the
        # signatures' variables uninitialized. tf.saved_model.load never noticed.
        self.model_variables = [
            variable.value if isinstance(variable, keras.Variable) else variable
            for variable in model.variables
        ]


def default_export_dir(family_name, dataset_name):
    """Where a model is exported unless told otherwise: saved_models/<model>_<dataset>."""
    return os.path.join("saved_models", f"{family_name}_{dataset_name}")


def version_folders(base_dir):
    """{version: folder} of the numerically named folders under `base_dir`, ascending, as TF
    Serving reads them ("0003" is version 3); hidden staging folders and other names are
    not versions."""
    if not os.path.isdir(base_dir):
        return {}
    numbered = [name for name in os.listdir(base_dir) if name.isascii() and name.isdigit()]
    return dict(sorted((int(name), os.path.join(base_dir, name)) for name in numbered))


def versions(base_dir):
    """Numeric version folders under `base_dir`, ascending."""
    return list(version_folders(base_dir))


def export_saved_model(model, base_dir, *, max_sample_num=DEFAULT_MAX_SAMPLE_NUM, metadata=None):
    """Write `model` as the next version under `base_dir`; return that version's folder.

    `max_sample_num` bounds the images one request to a sampling signature may ask for
    (`num` of `sample`, the seeds of `sample_seeds`): a server should not be made to draw
    without limit. A ConfigError if it is not an int in [1, MAX_SAMPLE_NUM_LIMIT].
    `metadata`: an ExportMetadata (where the model came from) for `assets.extra/kgen.json`.
    The model must run on TensorFlow; `kgen.workflows.export_model` exports one from any
    backend.
    """
    check_max_sample_num(max_sample_num)
    module = _ServingModule(model)
    endpoints = model.export_endpoints()
    signatures = {}
    for name, endpoint in endpoints.items():
        facts = SignatureFacts(name, model.num_classes, tuple(model.image_shape), max_sample_num)
        function = _signature_function(endpoint, facts)
        setattr(module, name, function)
        signatures[name] = function
    signatures["serving_default"] = signatures[model.serving_default]
    # The alias is a signature of its own in the graph (its own inputs and function call),
    # which TF Serving first runs, and so warms, apart from the endpoint it names.
    signature_inputs = {name: endpoints[name].inputs for name in endpoints}
    signature_inputs["serving_default"] = endpoints[model.serving_default].inputs

    os.makedirs(base_dir, exist_ok=True)
    version = (versions(base_dir) or [0])[-1] + 1
    final = os.path.join(base_dir, str(version))
    staging = tempfile.mkdtemp(prefix=f".{version}-", dir=base_dir)
    try:
        tf.saved_model.save(module, staging, signatures=signatures)
        model.save(os.path.join(staging, KERAS_ARCHIVE))
        _write_metadata(
            staging,
            _metadata(model, metadata or ExportMetadata(), max_sample_num, sorted(signatures)),
        )
        write_warmup_requests(staging, signature_inputs)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def check_max_sample_num(max_sample_num):
    """A ConfigError unless `max_sample_num` is an int in [1, MAX_SAMPLE_NUM_LIMIT]."""
    valid = isinstance(max_sample_num, int) and not isinstance(max_sample_num, bool)
    if not valid or not 1 <= max_sample_num <= MAX_SAMPLE_NUM_LIMIT:
        raise ConfigError(
            f"max_sample_num must be an int in [1, {MAX_SAMPLE_NUM_LIMIT}]; got {max_sample_num!r}."
        )


def _metadata(model, metadata, max_sample_num, signature_names):
    """The contents of kgen.json: the model's serving facts, where it came from, the
    versions that wrote it, and its signatures."""
    return {
        "family": metadata.family,
        **model.serving_metadata(),
        "dataset": metadata.dataset,
        "step": None if metadata.step is None else int(metadata.step),
        "kgen_version": kgen.__version__,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "max_sample_num": max_sample_num,
        "serving_default": model.serving_default,
        "signatures": signature_names,
    }


def _write_metadata(folder, metadata):
    path = os.path.join(folder, METADATA)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as file:
        json.dump(metadata, file, indent=2)


def saved_model_metadata(path):
    """What kgen recorded beside the SavedModel at `path` (or its latest version), as
    written: `num_classes`, `max_sample_num`, `signatures`, ... (docs/export-and-serving.md
    lists them). Older exports recorded `num_classes` alone, and the oldest nothing ({}):
    read the keys with `.get`, a missing one being unknown."""
    metadata = os.path.join(resolve_saved_model(path), METADATA)
    if not os.path.isfile(metadata):
        return {}
    with open(metadata) as file:
        return json.load(file)


def find_saved_model(path):
    """The SavedModel folder at `path` (itself, or its highest numeric version), or None."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    found = version_folders(path)
    return found[max(found)] if found else None


def resolve_saved_model(path):
    """The SavedModel folder at `path`: itself, or its highest numeric version."""
    found = find_saved_model(path)
    if found:
        return found
    raise ModelNotFound(
        f"No SavedModel at {path!r}: expected saved_model.pb there or in a numbered version "
        "folder. Train one with `kgen fit MODEL` or write one with `kgen export RUN_DIR`."
    )


def load_saved_model(path):
    """Load the SavedModel at `path` (or its latest version) with TensorFlow alone."""
    return tf.saved_model.load(resolve_saved_model(path))
