"""The fit driver: data, strategy, model, resume, callbacks, `fit`, export.

Generic over families: it knows a family only through the registry and the model protocol.
"""

import contextlib
import dataclasses
import random

import keras
import tensorflow as tf

from kgen import __version__
from kgen.data import evaluation_batches
from kgen.data import images_and_labels
from kgen.data import load_source
from kgen.data import steps_per_epoch
from kgen.data import training_stream
from kgen.errors import ConfigError
from kgen.errors import DataError
from kgen.errors import TrainingDiverged
from kgen.export import default_export_dir
from kgen.export import export_saved_model
from kgen.models import GenerativeModel
from kgen.models import get_family
from kgen.training.checkpoints import CheckpointCallback
from kgen.training.checkpoints import TrainingState
from kgen.training.checkpoints import scratch_directory
from kgen.training.run_dir import RunDir
from kgen.training.run_dir import open_run
from kgen.training.sample_quality import SampleQualityCallback
from kgen.training.strategy import default_jit_compile
from kgen.training.strategy import is_chief
from kgen.training.strategy import make_strategy
from kgen.training.strategy import resolve_jit_compile
from kgen.training.strategy import worker_values
from kgen.training.tensorboard import TensorBoardLogger

SUMMARY_IMAGES = 32  # images in each TensorBoard grid


@dataclasses.dataclass
class FitResult:
    """The trained model, where a run's outputs went, and how it ended."""

    model: keras.Model
    run_dir: str
    checkpoint_dir: str
    export_dir: str | None
    resumed_from_step: int
    final_step: int
    metrics: dict


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


def _hparams(record):
    flat = {"model": record["family"], "dataset": record["dataset"]["name"], "seed": record["seed"]}
    flat.update(record["model_config"])
    flat.update({k: v for k, v in record["train_config"].items() if k not in ("logdir", "export")})
    return flat


def _fid_extractor(train_config, info, announce, train_missing=True):
    """The feature extractor of the in-training FID/KID: the --fid-classifier or the
    dataset's cached domain classifier, trained first if missing and `train_missing`."""
    from kgen.evaluation import feature_extractor

    return feature_extractor(
        "classifier",
        train_config.dataset,
        info,
        classifier=train_config.fid_classifier,
        announce=announce,
        image_size=train_config.image_size,
        data_dir=train_config.data_dir,
        manual_dir=train_config.manual_dir,
        train_missing=train_missing,
    )


def _cached_fid_extractor(strategy, chief, train_config, info, announce):
    """The chief's extractor under --strategy multi-worker, which cannot train a classifier
    (TensorFlow's runtime must not start before MultiWorkerMirroredStrategy exists). Every
    worker hears whether the chief has one, so all refuse together instead of some waiting
    forever for the others."""
    extractor, problem = None, None
    if chief:
        try:
            extractor = _fid_extractor(train_config, info, announce, train_missing=False)
        except ConfigError as error:
            problem = error
    if 0 in worker_values(strategy, int(problem is None)).values():
        raise ConfigError(
            "--fid-every under --strategy multi-worker needs a domain classifier ready before "
            f"training: {problem or 'the chief has none (see its error).'}"
        )
    return extractor


def _fid_reference(extractor, train_config, data):
    """Features of the first --fid-samples real images of `data`, for the in-training FID/KID."""
    from kgen.evaluation import ReferenceSet

    images, _ = images_and_labels(data.take(train_config.fid_samples))
    return ReferenceSet(extractor, images)


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


def _summary_batch(dataset):
    batch = next(iter(dataset.batch(SUMMARY_IMAGES).take(1)))
    return batch["image"], batch.get("label")


def fit(family_name, model_config, train_config, runs_root="runs", verbose="auto", announce=None):
    """Train a model of `family_name`; resume its unfinished run if there is one; export it.

    `announce(message)`, if given, is told where the run lives before training starts.
    Returns a FitResult. Raises TrainingDiverged (after keeping the last good checkpoint)
    when the loss stops being finite.
    """
    family = get_family(family_name)
    multi_worker = train_config.strategy == "multi-worker"
    if multi_worker and train_config.seed is None:
        raise ConfigError(
            "--strategy multi-worker needs --seed: every worker must shuffle the data alike "
            "for the DATA sharding to split it; pass the same --seed to all workers."
        )
    # Record the dataset resolved, so `--dataset mnist` and the default are the same run.
    train_config = dataclasses.replace(
        train_config, dataset=train_config.dataset or family.default_dataset
    )
    data = extractor = None
    if train_config.fid_every and not multi_worker:
        # Training the domain classifier (on first use) runs `fit` under a strategy of its
        # own; made while this run's exists, two strategies over the same devices collide
        # ("Shape mismatch in the collective instance"). So it is ready before this one.
        data = load_data(train_config, family)
        extractor = _fid_extractor(train_config, data[2], announce)
    strategy = make_strategy(train_config.strategy)
    chief = is_chief(strategy)
    train_data, eval_data, info = data or load_data(train_config, family)
    if train_config.fid_every and multi_worker:
        extractor = _cached_fid_extractor(strategy, chief, train_config, info, announce)
    record = _record(family, model_config, train_config, info)
    if chief:
        run, _ = open_run(record, train_config.logdir, runs_root, train_config.fresh)
    else:
        run = RunDir(train_config.logdir or scratch_directory(), record)
    seed = run.seed
    keras.utils.set_random_seed(seed)
    if train_config.seed is not None:
        tf.config.experimental.enable_op_determinism()

    model = build_model(family, model_config, info, seed, strategy, train_config)
    reference = None
    if train_config.fid_every:
        if not isinstance(model, GenerativeModel):
            raise ConfigError(f"--fid-every measures samples; a {type(model).__name__} draws none.")
        if chief:
            reference = _fid_reference(
                extractor, train_config, eval_data if eval_data is not None else train_data
            )
    # Non-chief workers save to a scratch folder (saving is collective) but resume from the
    # chief's checkpoints when --logdir is on storage they can read.
    state = TrainingState(
        model,
        run.checkpoint_dir if chief else scratch_directory(),
        restore_from=None if chief else run.checkpoint_dir,
    )
    _agree_on_start_step(strategy, state)
    with strategy.scope():  # restoring creates the optimizer's slots, which the strategy owns
        start_step = state.restore()
    if announce and chief:
        announce(
            f"Resuming {run.path} from step {start_step}."
            if start_step
            else f"Training in {run.path}."
        )

    batch_size = train_config.batch_size
    per_epoch = steps_per_epoch(info.num_examples, batch_size)
    checkpoints = CheckpointCallback(state, every=train_config.checkpoint_every)
    callbacks = [checkpoints]  # first: every later callback reads the step it advances
    if reference is not None:
        # Before the TensorBoard logger, which writes the figures it adds to the epoch's logs.
        callbacks.append(
            SampleQualityCallback(
                reference,
                train_config.fid_every,
                train_config.fid_samples,
                seed=seed,
                jit_compile=train_config.jit_compile,
            )
        )
    if chief:
        callbacks.append(
            TensorBoardLogger(
                run.path,
                state,
                log_every=train_config.log_every,
                summary_batch=_summary_batch(eval_data if eval_data is not None else train_data),
                hparams=_hparams(run.record),
                jit_compile=resolve_jit_compile(train_config.jit_compile, model.sample_jit_compile),
            )
        )
    validation = None if eval_data is None else evaluation_batches(eval_data, batch_size)

    def stream(from_step):
        return training_stream(train_data, batch_size, seed, skip_batches=from_step)

    metrics = _fit_from(
        model, stream, start_step, per_epoch, train_config.epochs, validation, callbacks, verbose
    )
    if checkpoints.diverged_at is not None:
        if chief:
            run.mark("diverged")
        raise TrainingDiverged(
            f"A loss or its gradients became NaN or infinite at step {checkpoints.diverged_at}; training "
            f"stopped. The last good checkpoint is in {run.checkpoint_dir}: the same command "
            "resumes from it; a lower --learning-rate (or no --mixed-precision) starts a new run."
        )
    export_dir = None
    if chief:
        run.mark("completed")
        export_base = train_config.export or default_export_dir(family.name, info.name)
        export_dir = export_saved_model(model, export_base)
    return FitResult(
        model=model,
        run_dir=run.path,
        checkpoint_dir=run.checkpoint_dir,
        export_dir=export_dir,
        resumed_from_step=start_step,
        final_step=int(state.step.numpy()),
        metrics=metrics,
    )


def _fit_from(model, stream, start_step, per_epoch, epochs, validation, callbacks, verbose):
    """Run `fit` from global step `start_step`: first the rest of a partly trained epoch,
    then whole epochs. Returns the last epoch's metrics."""
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


def _last(history):
    return {name: values[-1] for name, values in history.history.items() if values}
