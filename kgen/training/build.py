"""Building what a run trains: its data, its model (under the strategy and the dtype policy),
and, from a run directory, the trained model back.

Below the fit driver, so that loading a run for evaluation or export needs nothing of the
driver, TensorBoard or the plots.
"""

import contextlib
import dataclasses

import keras
import tensorflow as tf

from kgen.data import DatasetInfo
from kgen.data import load_source
from kgen.errors import DataError
from kgen.errors import ModelNotFound
from kgen.models import get_family
from kgen.models.image_sampler import resolve_jit_compile
from kgen.training.checkpoints import TrainingState
from kgen.training.config import TrainConfig
from kgen.training.run_dir import RunDir
from kgen.training.strategy import default_jit_compile
from kgen.training.strategy import make_strategy


def with_default_dataset(train_config, family):
    """`train_config` naming its dataset: the family's default when it names none, so that
    `--dataset mnist` and the default are the same run."""
    return dataclasses.replace(train_config, dataset=train_config.dataset or family.default_dataset)


def load_data(train_config, family):
    """(train dataset, eval dataset or None, DatasetInfo) for a training run."""
    spec = train_config.dataset or family.default_dataset
    source = dict(
        data_dir=train_config.data_dir,
        manual_dir=train_config.manual_dir,
        image_size=train_config.image_size,
    )
    train, info = load_source(spec, "train", limit=train_config.limit, **source)
    split = train_config.eval_split
    if split == "none":
        return train, None, info
    try:
        evaluation, _ = load_source(
            spec, "test" if split == "auto" else split, limit=train_config.limit, **source
        )
    except DataError:
        if split != "auto":
            raise
        evaluation = None
    return train, evaluation, info


@contextlib.contextmanager
def dtype_policy(mixed_precision):
    """Set the global Keras dtype policy for building a model, then restore it."""
    previous = keras.config.dtype_policy()
    if mixed_precision:
        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        keras.config.set_dtype_policy("mixed_float16" if on_gpu else "mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(family, model_config, info, seed, strategy, train_config):
    """Build and compile the family's model inside the strategy's scope."""
    jit = resolve_jit_compile(train_config.jit_compile, default_jit_compile(strategy))
    with dtype_policy(train_config.mixed_precision), strategy.scope():
        return family.build(model_config, info, seed=seed, jit_compile=jit)


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
