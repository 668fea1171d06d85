"""Building what a run trains: its data, its model (under the strategy and the dtype policy),
and, from a run directory, the trained model back.

Below the fit driver, so that loading a run for evaluation or export needs nothing of the
driver, TensorBoard or the plots.
"""

import contextlib
import dataclasses
import math

import keras

from kgen.data import DatasetInfo
from kgen.data import steps_per_epoch
from kgen.errors import ConfigError
from kgen.errors import DataError
from kgen.errors import ModelNotFound
from kgen.models import get_family
from kgen.models.image_sampler import resolve_jit_compile
from kgen.training.checkpoints import TrainingState
from kgen.training.config import TrainConfig
from kgen.training.run_dir import RunDir
from kgen.training.strategy import default_jit_compile
from kgen.training.strategy import default_steps_per_execution
from kgen.training.strategy import gpu_visible
from kgen.training.strategy import make_strategy


def with_family_defaults(train_config, family):
    """`train_config` naming its dataset and epochs: the family's defaults where it names
    none, so that `--dataset mnist` and the default are the same run (and so are the
    default epochs and the same number given)."""
    return dataclasses.replace(
        train_config,
        dataset=train_config.dataset or family.default_dataset,
        epochs=train_config.epochs or family.default_epochs,
    )


def execution_boundaries(train_config, num_examples, resume_step=0):
    """The step counts --steps-per-execution must divide, by flag or phrase (those not 0).

    Callbacks see only the last step of each execution, so the steps that checkpoint and
    log (--checkpoint-every, --log-every) must end one; so must every epoch (Keras's `fit`
    runs whole executions, and one crossing an epoch's end would train on the next epoch's
    batches), including the rest of an epoch a run resumes in the middle of.
    """
    per_epoch = steps_per_epoch(num_examples, train_config.batch_size)
    boundaries = {
        "--checkpoint-every": train_config.checkpoint_every,
        "--log-every": train_config.log_every,
        "steps per epoch": per_epoch,
        "resume step": resume_step % per_epoch,
    }
    return {what: steps for what, steps in boundaries.items() if steps}


def check_steps_per_execution(train_config, num_examples, resume_step=0):
    """Raise ConfigError, in one line naming the values and the fix, when an explicit
    --steps-per-execution does not divide every count of `execution_boundaries` (auto
    always does: see `resolve_steps_per_execution`)."""
    n = train_config.steps_per_execution
    if n == "auto" or n == 1:
        return
    for what, steps in execution_boundaries(train_config, num_examples, resume_step).items():
        if steps % n == 0:
            continue
        if what == "steps per epoch":
            problem = (
                f"the {steps} steps per epoch ({num_examples} examples in batches of "
                f"{train_config.batch_size})"
            )
            fix = (
                f"pass a divisor of {steps}, or a --batch-size or --limit giving a multiple of {n}"
            )
        elif what == "resume step":
            problem = f"step {steps} of the epoch, where this run resumes from its checkpoint"
            fix = f"pass a divisor of {steps}, or start a new run with --fresh"
        else:
            problem = f"{what} {steps}"
            fix = f"pass a divisor of {steps}, or {what} a multiple of {n}"
        raise ConfigError(f"--steps-per-execution {n} does not divide {problem}: {fix}.")


def resolve_steps_per_execution(train_config, num_examples, strategy, resume_step=0):
    """--steps-per-execution as a number: as given, or for auto the target of the devices
    `strategy` trains on (`default_steps_per_execution`) lowered to the largest number that
    divides every count of `execution_boundaries`, so that auto never fails the check."""
    if train_config.steps_per_execution != "auto":
        return train_config.steps_per_execution
    target = default_steps_per_execution(strategy)
    if target == 1:
        return 1
    common = math.gcd(*execution_boundaries(train_config, num_examples, resume_step).values())
    return max(n for n in range(1, min(target, common) + 1) if common % n == 0)


def load_data(train_config, family):
    """(train dataset, eval dataset or None, DatasetInfo) for a training run."""
    from kgen.data import load_source  # tf.data and TFDS: imported when data is loaded

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
        on_gpu = gpu_visible()
        keras.config.set_dtype_policy("mixed_float16" if on_gpu else "mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(family, model_config, info, seed, strategy, train_config):
    """Build and compile the family's model inside the strategy's scope, running
    --steps-per-execution train steps per call of its train function."""
    jit = resolve_jit_compile(train_config.jit_compile, default_jit_compile(strategy))
    with dtype_policy(train_config.mixed_precision), strategy.scope():
        model = family.build(model_config, info, seed=seed, jit_compile=jit)
    # Set here for every family rather than passed to each family's `compile`: Keras reads
    # it only when `fit` makes the train function, so setting it after `compile` is enough.
    model.steps_per_execution = resolve_steps_per_execution(
        train_config, info.num_examples, strategy
    )
    return model


def model_from_run(run_dir):
    """(model with the weights of `run_dir`'s latest checkpoint, the run's record with
    `step`, the global step of that checkpoint, added)."""
    run = RunDir.load(run_dir)
    record = run.record
    family = get_family(record["family"])
    model_config = family.config_class.from_record(record["model_config"])
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
