"""Rebuilding a run's model from its record and latest checkpoint, then exporting it."""

import dataclasses

from kgen.data import DatasetInfo
from kgen.errors import ModelNotFound
from kgen.export.saved_model import default_export_dir
from kgen.export.saved_model import export_saved_model
from kgen.models import get_family
from kgen.training.checkpoints import TrainingState
from kgen.training.config import TrainConfig
from kgen.training.driver import build_model
from kgen.training.run_dir import RunDir
from kgen.training.strategy import make_strategy


def model_from_run(run_dir):
    """(model with the weights of `run_dir`'s latest checkpoint, the run's record with
    `step`, the global step of that checkpoint, added)."""
    run = RunDir.load(run_dir)
    record = run.record
    family = get_family(record["family"])
    model_config = family.config_class(**record["model_config"])
    info = DatasetInfo(
        **{**record["dataset"], "image_shape": tuple(record["dataset"]["image_shape"])}
    )
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    train_config = TrainConfig(**{k: v for k, v in record["train_config"].items() if k in fields})
    model = build_model(
        family, model_config, info, record["seed"], make_strategy("one-device"), train_config
    )
    state = TrainingState(model, run.checkpoint_dir)
    if state.restore_weights() is None:
        raise ModelNotFound(f"{run_dir!r} has no checkpoint yet; train it with `kgen fit` first.")
    return model, {**record, "step": int(state.step.numpy())}


def export_run(run_dir, export_base=None):
    """Export `run_dir`'s latest checkpoint as the next SavedModel version; return its path."""
    model, record = model_from_run(run_dir)
    export_base = export_base or default_export_dir(record["family"], record["dataset"]["name"])
    return export_saved_model(model, export_base)
