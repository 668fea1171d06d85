"""The fit driver: strategy, data, run directory, model, resume, callbacks, `fit`.

It trains and nothing else: exporting the result and measuring samples during training are
the caller's (`kgen.workflows`), which hands in extra callbacks. Generic over families: it
knows a family only through the registry and the model protocol.
"""

import dataclasses
import random
from collections.abc import Callable

import keras
import numpy as np

from kgen import __version__
from kgen.data import DatasetInfo
from kgen.data import evaluation_batches
from kgen.data import steps_per_epoch
from kgen.data import training_stream
from kgen.errors import ConfigError
from kgen.errors import TrainingDiverged
from kgen.models import get_family
from kgen.models.image_sampler import resolve_jit_compile
from kgen.training.build import build_model
from kgen.training.build import check_steps_per_execution
from kgen.training.build import load_data
from kgen.training.build import resolve_steps_per_execution
from kgen.training.build import with_family_defaults
from kgen.training.checkpoints import CheckpointCallback
from kgen.training.checkpoints import TrainingState
from kgen.training.checkpoints import scratch_directory
from kgen.training.config import TrainConfig
from kgen.training.run_dir import RunDir
from kgen.training.run_dir import open_run
from kgen.training.strategy import batch_split
from kgen.training.strategy import check_batch_split
from kgen.training.strategy import describe_devices
from kgen.training.strategy import fit_scope
from kgen.training.strategy import is_chief
from kgen.training.strategy import make_strategy
from kgen.training.strategy import worker_values
from kgen.training.tensorboard import TensorBoardLogger
from kgen.training.time_estimate import TimeEstimateCallback

SUMMARY_IMAGES = 32  # images in each TensorBoard grid


@dataclasses.dataclass
class FitResult:
    """The trained model, where a run's outputs went, and how it ended.

    `export_dir` is None until the caller exports the model (`kgen.workflows.train` does);
    `chief` says whether this process owns the run's outputs (always, off a cluster).
    """

    model: keras.Model
    run_dir: str
    checkpoint_dir: str
    resumed_from_step: int
    final_step: int
    metrics: dict
    dataset_info: DatasetInfo
    chief: bool = True
    export_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class RunSetup:
    """What a run is made of once its model is built, for callers' extra callbacks.

    Attributes:
        model: the compiled model, built in the strategy's scope.
        strategy: the strategy it trains under (`kgen.training.strategy.make_strategy`).
        chief: whether this process writes the run's outputs.
        train_data, eval_data: the unbatched datasets (eval_data None without an eval split).
        info: the DatasetInfo.
        seed: the run's seed (given or drawn, and recorded).
        train_config: the run's TrainConfig, its dataset resolved.
    """

    model: keras.Model
    strategy: object  # a tf.distribute.Strategy, or a JaxStrategy
    chief: bool
    train_data: object  # tf.data.Dataset
    eval_data: object | None
    info: DatasetInfo
    seed: int
    train_config: TrainConfig


def fit(
    family_name,
    model_config,
    train_config,
    runs_root="runs",
    verbose="auto",
    announce=None,
    *,
    data=None,
    extra_callbacks: Callable[[RunSetup], list] | None = None,
):
    """Train a model of `family_name`; resume its unfinished run if there is one.

    Args:
        family_name, model_config, train_config: what to train, and how.
        runs_root: where new run directories go when train_config.logdir is unset.
        verbose: Keras's `fit` verbosity.
        announce: announce(message) is told where the run lives before training starts.
        data: (train, eval or None, DatasetInfo) already loaded for this run, else loaded here.
        extra_callbacks: extra_callbacks(RunSetup) -> Keras callbacks, called on every worker
            once the model is built; the callbacks may add figures to the epoch's logs, which
            the TensorBoard logger writes.

    Returns a FitResult. Raises TrainingDiverged (after keeping the last good checkpoint)
    when the loss stops being finite.
    """
    family = get_family(family_name)
    train_config = checked_train_config(train_config, family)
    strategy = make_strategy(train_config.strategy)
    check_batch_split(strategy, train_config.batch_size, train_config.strategy)
    chief = is_chief(strategy)
    train_data, eval_data, info = data or load_data(train_config, family)
    check_steps_per_execution(train_config, info.num_examples)  # before a run folder exists
    left_out = _validation_left_out(strategy, eval_data, train_config.batch_size)
    run = _open_run(family, model_config, train_config, info, runs_root, chief)
    _seed_everything(run.seed, deterministic=train_config.seed is not None)
    model = build_model(family, model_config, info, run.seed, strategy, train_config)
    setup = RunSetup(model, strategy, chief, train_data, eval_data, info, run.seed, train_config)
    extras = extra_callbacks(setup) if extra_callbacks else []
    state, start_step = _restore(setup, run)
    _set_steps_per_execution(setup, run, start_step)
    if announce and chief:
        announce(f"Device: {describe_devices(strategy)}.")
        announce(
            f"Resuming {run.path} from step {start_step}."
            if start_step
            else f"Training in {run.path}."
        )
        announce(_plan(setup, start_step, left_out))
        extras = [*extras, TimeEstimateCallback(announce, state.step, _total_steps(setup))]
    checkpoints = CheckpointCallback(state, every=train_config.checkpoint_every)
    logger = _tensorboard_logger(setup, run, state) if chief else None
    with fit_scope(strategy):
        metrics = _fit_from(setup, start_step, _callbacks(checkpoints, extras, logger), verbose)
    _finish(run, checkpoints, chief)
    return FitResult(
        model=model,
        run_dir=run.path,
        checkpoint_dir=run.checkpoint_dir,
        resumed_from_step=start_step,
        final_step=int(state.step.numpy()),
        metrics=metrics,
        dataset_info=info,
        chief=chief,
    )


def _steps_per_epoch(setup):
    return steps_per_epoch(setup.info.num_examples, setup.train_config.batch_size)


def _total_steps(setup):
    return setup.train_config.epochs * _steps_per_epoch(setup)


def _plan(setup, start_step, validation_left_out):
    """One line saying what `fit` is about to do; the time follows its first steps.
    `validation_left_out` says which validation images are left out, if any."""
    config, info = setup.train_config, setup.info
    per_epoch = _steps_per_epoch(setup)
    validation = ", validating after each" if setup.eval_data is not None else ""
    validation += validation_left_out
    left = max(_total_steps(setup) - start_step, 0)
    epochs = f"{config.epochs} epoch{'s' * (config.epochs != 1)}"
    return (
        f"Plan: {epochs} of {per_epoch:,} steps (batches of {config.batch_size} "
        f"from {info.num_examples:,} {info.name}/{info.split} images){validation}; "
        f"{left:,} steps to go. A time estimate follows the first steps."
    )


def checked_train_config(train_config, family):
    """`train_config` with its dataset and epochs resolved (so `--dataset mnist` and the
    family's default are the same run), or a ConfigError for settings that cannot work
    together."""
    if train_config.strategy == "multi-worker" and train_config.seed is None:
        raise ConfigError(
            "--strategy multi-worker needs --seed: every worker must shuffle the data alike "
            "for the DATA sharding to split it; pass the same --seed to all workers."
        )
    return with_family_defaults(train_config, family)


def _open_run(family, model_config, train_config, info, runs_root, chief):
    """The run directory: the chief opens (or resumes) it; other workers of a cluster get a
    RunDir over a scratch folder unless --logdir names the chief's."""
    record = _record(family, model_config, train_config, info)
    if chief:
        run, _ = open_run(record, train_config.logdir, runs_root, train_config.fresh)
        return run
    return RunDir(train_config.logdir or scratch_directory(), record)


def _record(family, model_config, train_config, info):
    seed_given = train_config.seed is not None
    seed = train_config.seed if seed_given else random.randrange(2**31)
    return {
        "family": family.name,
        "model_config": dataclasses.asdict(model_config),
        "train_config": dataclasses.asdict(train_config),
        "dataset": dataclasses.asdict(info),
        "seed": seed,
        "seed_given": seed_given,
        "status": "running",
        "kgen_version": __version__,
    }


def _seed_everything(seed, deterministic):
    """Seed every generator; on TensorFlow, op determinism on for a run given --seed, off
    for one without (JAX's CPU and GPU kernels are deterministic already).

    Op determinism is process-wide and TensorFlow never turns it off by itself, so a seeded
    run would leave it on for every later run in the process; under it Keras also keeps XLA
    off. TensorFlow exposes the switch-off only in its framework config module.
    """
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        from tensorflow.python.framework import config as framework_config

        framework_config.disable_op_determinism()


def _restore(setup, run):
    """(TrainingState, the global step it resumes from) after restoring the newest
    checkpoint, if any.

    Non-chief workers save to a scratch folder (saving is collective) but resume from the
    chief's checkpoints when --logdir is on storage they can read.
    """
    state = TrainingState(
        setup.model,
        run.checkpoint_dir if setup.chief else scratch_directory(),
        restore_from=None if setup.chief else run.checkpoint_dir,
    )
    _agree_on_start_step(setup.strategy, state)
    with setup.strategy.scope():  # restoring creates the optimizer's slots, which it owns
        start_step = state.restore()
    return state, start_step


def _agree_on_start_step(strategy, state):
    """Refuse, on every worker, when the workers of a cluster would resume from different
    checkpoints: their weights would differ and `fit` would hang once the first one stops.
    Compared before restoring, because restoring creates the optimizer's variables, a
    collective that workers restoring nothing would not join."""
    steps = worker_values(strategy, state.latest_step())
    if len(set(steps.values())) > 1:
        sides = ", ".join(f"{task} from step {step}" for task, step in steps.items())
        raise ConfigError(
            f"The workers would resume from different checkpoints ({sides}): give every worker "
            "the same --logdir, on storage they all can read."
        )


def _set_steps_per_execution(setup, run, start_step):
    """Check --steps-per-execution against where the run resumes (all workers agree on that
    by now), then give the model the resolved number and write it into the run's record,
    and so into its TensorBoard hparams, in place of "auto"."""
    config, num_examples = setup.train_config, setup.info.num_examples
    check_steps_per_execution(config, num_examples, start_step)
    steps = resolve_steps_per_execution(config, num_examples, setup.strategy, start_step)
    setup.model.steps_per_execution = steps
    run.record["train_config"]["steps_per_execution"] = steps
    if setup.chief:
        run.save()


def _tensorboard_logger(setup, run, state):
    data = setup.eval_data if setup.eval_data is not None else setup.train_data
    batch = next(iter(data.batch(SUMMARY_IMAGES).take(1)))
    labels = batch.get("label")
    return TensorBoardLogger(
        run.path,
        state,
        log_every=setup.train_config.log_every,
        summary_batch=(np.asarray(batch["image"]), None if labels is None else np.asarray(labels)),
        hparams=_hparams(run.record),
        jit_compile=resolve_jit_compile(
            setup.train_config.jit_compile, setup.model.sample_jit_compile
        ),
    )


def _hparams(record):
    flat = {
        "model": record["family"],
        "dataset": record["dataset"]["name"],
        "seed": record["seed"],
    }
    flat.update(record["model_config"])
    flat.update({k: v for k, v in record["train_config"].items() if k not in ("logdir", "export")})
    return flat


def _callbacks(checkpoints, extras, logger):
    """The run's callbacks, in the one order that matters: the extra callbacks (such as the
    in-training FID) add their figures to an epoch's logs in `on_epoch_end`, and Keras
    calls the callbacks in list order, so they come before the TensorBoard logger, which
    writes those logs. The checkpoint callback may sit anywhere: it advances the step as
    an execution of steps begins, before any callback reads it."""
    return [checkpoints, *extras, *([logger] if logger else [])]


def _finish(run, checkpoints, chief):
    """Mark the run completed, or diverged (raising TrainingDiverged)."""
    if checkpoints.diverged_at is not None:
        if chief:
            run.mark("diverged")
        raise TrainingDiverged(
            f"A loss or its gradients became NaN or infinite {checkpoints.divergence}; "
            f"training stopped. The last good checkpoint is in {run.checkpoint_dir}: the same "
            "command resumes from it; a lower --learning-rate (or no --mixed-precision) starts a "
            "new run."
        )
    if chief:
        run.mark("completed")


def _fit_from(setup, start_step, callbacks, verbose):
    """Run `fit` from global step `start_step`: first the rest of a partly trained epoch,
    then whole epochs. Returns the last epoch's metrics."""
    model = setup.model
    epochs, batch_size = setup.train_config.epochs, setup.train_config.batch_size
    per_epoch = _steps_per_epoch(setup)
    validation = None
    if setup.eval_data is not None:
        whole = batch_split(setup.strategy) > 1  # see _validation_left_out
        validation = evaluation_batches(setup.eval_data, batch_size, whole_batches=whole)

    def stream(from_step):
        return training_stream(setup.train_data, batch_size, setup.seed, skip_batches=from_step)

    epoch, offset = divmod(start_step, per_epoch)
    metrics = {}
    if epoch >= epochs:
        return metrics
    common = dict(validation_data=validation, callbacks=callbacks, verbose=verbose, shuffle=False)
    if offset:
        history = model.fit(
            stream(start_step),
            initial_epoch=epoch,
            epochs=epoch + 1,
            steps_per_epoch=per_epoch - offset,
            **common,
        )
        metrics = _last(history)
        epoch += 1
        if model.stop_training or epoch >= epochs:
            return metrics
    history = model.fit(
        stream(epoch * per_epoch),
        initial_epoch=epoch,
        epochs=epochs,
        steps_per_epoch=per_epoch,
        **common,
    )
    return _last(history) or metrics


def _validation_left_out(strategy, eval_data, batch_size):
    """Where the devices split every batch in equal parts (see `batch_split`), validation
    keeps whole batches only, as a partial one need not split: the words for the plan line
    saying how many validation images that leaves out ("" when none), or a ConfigError when
    not one whole batch is left."""
    parts = batch_split(strategy)
    if eval_data is None or parts == 1:
        return ""
    from kgen.data import count_examples

    total = count_examples(eval_data)
    kept = total - total % batch_size
    if not kept:
        largest = total - total % parts
        fix = f"a --batch-size of at most {largest} or " if largest else ""
        raise ConfigError(
            f"The {total} validation images make no whole batch of {batch_size}, and under "
            f"JAX validation takes whole batches only (each of the {parts} devices takes an "
            f"equal part of every batch): pass {fix}--eval-split none."
        )
    if kept == total:
        return ""
    return (
        f" on {kept:,} of the {total:,} validation images (whole batches: each of the "
        f"{parts} devices takes an equal part of every batch)"
    )


def _last(history):
    return {name: values[-1] for name, values in history.history.items() if values}
