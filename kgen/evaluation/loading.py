"""Loading a trained model (with its Python methods) from a run directory or a SavedModel."""

import os

import keras

from kgen.errors import ModelNotFound
from kgen.export.saved_model import KERAS_ARCHIVE
from kgen.export.saved_model import resolve_saved_model
from kgen.training.build import model_from_run
from kgen.training.run_dir import RECORD


def load_model(path):
    """(model, data settings) from a run directory or an exported SavedModel.

    A run directory gives its latest checkpoint and the data settings it was trained with
    (`dataset`, `image_size`, `data_dir`, `manual_dir`) with the checkpoint's `step`; a
    SavedModel gives the `.keras` archive kgen writes beside the graph, and no settings.
    """
    if os.path.isfile(os.path.join(path, RECORD)):
        model, record = model_from_run(path)
        keys = ("dataset", "image_size", "data_dir", "manual_dir")
        settings = {key: record["train_config"].get(key) for key in keys}
        # Older records kept `dataset` unset for the family's default; the name says which.
        settings["dataset"] = settings["dataset"] or record["dataset"]["name"]
        settings["step"] = record["step"]
        return model, settings
    archive = os.path.join(resolve_saved_model(path), KERAS_ARCHIVE)
    if not os.path.isfile(archive):
        raise ModelNotFound(f"{path!r} has no {KERAS_ARCHIVE}; it was not exported by kgen.")
    import kgen.models  # noqa: F401  (registers the classes the archive names)

    return keras.models.load_model(archive), {}


def load_split(
    trained_with,
    split,
    *,
    dataset=None,
    image_size=None,
    data_dir=None,
    manual_dir=None,
    limit=None,
):
    """(dataset, DatasetInfo, data settings) of `split` for a model loaded by `load_model`:
    each data setting given, else the one it was trained with (`trained_with`).

    Raises ConfigError when neither names a dataset (a SavedModel records none).
    """
    from kgen.data import load_source
    from kgen.errors import ConfigError

    dataset = dataset or trained_with.get("dataset")
    if dataset is None:
        raise ConfigError("Pass --dataset: a SavedModel does not record what it was trained on.")
    settings = dict(
        data_dir=data_dir or trained_with.get("data_dir"),
        manual_dir=manual_dir or trained_with.get("manual_dir"),
        image_size=image_size or trained_with.get("image_size"),
    )
    data, info = load_source(dataset, split, limit=limit, **settings)
    return data, info, {"dataset": dataset, **settings}
