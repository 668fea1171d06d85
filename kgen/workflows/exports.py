"""Exporting a model trained under any Keras backend: `export_model`.

A SavedModel is TensorFlow's format, and `jax2tf` cannot trace `sample(num, seed)`, whose
output shape depends on the value of `num`, and emits platform-specific XLA calls. So a
model trained on JAX is saved as its backend-agnostic `.keras` archive, and a subprocess
with `KERAS_BACKEND=tensorflow` loads that archive and runs the same exporter
(`kgen.export.saved_model.export_saved_model`): the same signatures, guards and metadata.
TensorFlow is needed at export time only. Under TensorFlow the exporter runs in-process.

The subprocess runs `python -m kgen.workflows.exports ARCHIVE BASE_DIR MAX_SAMPLE_NUM
METADATA` (METADATA: ExportMetadata's fields as JSON); it prints the version folder it wrote.
"""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

import keras

from kgen.errors import ExportFailed
from kgen.export.saved_model import DEFAULT_MAX_SAMPLE_NUM
from kgen.export.saved_model import check_max_sample_num


def export_model(model, base_dir, *, max_sample_num=DEFAULT_MAX_SAMPLE_NUM, metadata=None):
    """`kgen.export.export_saved_model` from any backend: in-process under TensorFlow, else
    through the model's `.keras` archive in a TensorFlow subprocess. Returns the version
    folder written."""
    if keras.backend.backend() == "tensorflow":
        from kgen.export.saved_model import export_saved_model

        return export_saved_model(model, base_dir, max_sample_num=max_sample_num, metadata=metadata)
    check_max_sample_num(max_sample_num)
    return _export_in_tensorflow_process(model, base_dir, max_sample_num, metadata)


def _export_in_tensorflow_process(model, base_dir, max_sample_num, metadata):
    """Write `model` as the next SavedModel version under `base_dir` from a TensorFlow
    subprocess; return that version's folder."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ExportFailed(
            "Exporting a SavedModel needs TensorFlow, which this environment lacks: pip "
            "install tensorflow, then `kgen export RUN_DIR` writes it from the run's last "
            "checkpoint."
        )
    with tempfile.TemporaryDirectory(prefix="kgen-export-") as scratch:
        archive = os.path.join(scratch, "model.keras")
        model.save(archive)
        fields = {} if metadata is None else dataclasses.asdict(metadata)
        command = [sys.executable, "-m", __name__, archive, base_dir, str(max_sample_num)]
        command.append(json.dumps(fields))
        environment = dict(os.environ, KERAS_BACKEND="tensorflow")
        result = subprocess.run(command, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExportFailed(
            "The TensorFlow process exporting the model failed:\n" + result.stderr[-3000:]
        )
    return result.stdout.strip().splitlines()[-1]


def _main(archive, base_dir, max_sample_num, metadata_json):
    import kgen.models  # noqa: F401  (registers the families' classes for loading)
    from kgen.export.saved_model import ExportMetadata
    from kgen.export.saved_model import export_saved_model

    model = keras.saving.load_model(archive)
    metadata = ExportMetadata(**json.loads(metadata_json)) if metadata_json != "{}" else None
    print(
        export_saved_model(model, base_dir, max_sample_num=int(max_sample_num), metadata=metadata)
    )


if __name__ == "__main__":
    _main(*sys.argv[1:])
