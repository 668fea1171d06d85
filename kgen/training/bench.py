"""Throughput of a model's train step, its sampler and its input pipeline, in images/second.

Every family is measured the same way: one `fit` whose first steps are a warm-up (tracing,
XLA compilation, filling the shuffle buffer) and whose remaining steps are timed from the
end of the warm-up, so the figure is the steady-state speed training sees.
"""

import dataclasses
import math
import statistics
import time

import keras

from kgen.data.synthetic import synthetic_batches
from kgen.data.synthetic import synthetic_info
from kgen.errors import ConfigError
from kgen.models import GenerativeModel
from kgen.models import get_family
from kgen.models.image_sampler import ImageSampler
from kgen.training.build import build_model
from kgen.training.build import load_data
from kgen.training.build import with_family_defaults
from kgen.training.strategy import describe_devices
from kgen.training.strategy import device_name
from kgen.training.strategy import fit_scope
from kgen.training.strategy import make_strategy


def _rate(images, seconds):
    return images / seconds if seconds > 0 else float("inf")


def benchmark(
    family_name,
    model_config,
    train_config,
    steps=20,
    warmup=3,
    sample_batches=2,
    sample_size=16,
    reference=False,
    repeats=None,
    compare=None,
    synthetic=False,
    announce=None,
):
    """Measure one family; returns the JSON-ready dict (shared keys first). `announce`,
    if given, hears which devices it runs on before anything is measured.

    With `reference`, the family's step is timed against its reference step
    (`kgen.models.reference_steps`) on the same networks, data and batch, in `repeats`
    alternating repetitions (5 by default; 1 without a reference).

    `compare`, (field, values), times one model per value of a TrainConfig field (such as
    ("jit_compile", ("off", "on"))) the same way, against the first value; the other
    figures are the first value's. The models are built alike but for that setting.

    With `synthetic`, the model trains on random images of the dataset's shape made with
    NumPy (`kgen.data.synthetic`) instead of the dataset through tf.data: no dataset is
    read, and no TensorFlow is needed on JAX. There is then no input pipeline to time.
    """
    if reference and compare:
        raise ConfigError("Pass --reference or --compare, not both: each is its own comparison.")
    family = get_family(family_name)
    strategy = make_strategy(train_config.strategy)
    if announce:
        announce(f"Benchmarking {family.name} on {describe_devices(strategy)}.")
    batch = train_config.batch_size
    seed = 0 if train_config.seed is None else train_config.seed
    if synthetic:
        dataset = with_family_defaults(train_config, family).dataset
        info = synthetic_info(dataset, train_config.image_size)

        def stream():
            return synthetic_batches(info, batch, seed)

    else:
        from kgen.data import training_stream

        train_config = dataclasses.replace(train_config, eval_split="none")
        train_data, _, info = load_data(train_config, family)

        def stream():
            return training_stream(train_data, batch, seed)

    keras.utils.set_random_seed(seed)
    field, values = compare or (None, ())
    if values:
        train_config = dataclasses.replace(train_config, **{field: values[0]})
    model = build_model(family, model_config, info, seed, strategy, train_config)
    repeats = repeats or (5 if reference or compare else 1)

    # Input pipeline alone: batches through the same stream training reads.
    input_rate = None if synthetic else _input_rate(stream(), batch, max(steps * 5, 50))

    contenders = {"kgen": model}
    for value in values[1:]:
        setting = dataclasses.replace(train_config, **{field: value})
        contenders[value] = build_model(family, model_config, info, seed, strategy, setting)
    if reference:
        with strategy.scope():
            try:
                contenders["reference"] = model.reference_model()
            except NotImplementedError as error:
                raise ConfigError(
                    f"--reference: {error} Benchmark it without --reference."
                ) from None
    # One `fit` call runs whole executions of `steps_per_execution` steps: every model
    # times the same number of steps, a whole number of executions of each.
    per_call = math.lcm(*(contender.steps_per_execution for contender in contenders.values()))
    steps = _round_up(steps, per_call)
    with fit_scope(strategy):
        rates = _alternating_train_rates(contenders, stream, warmup, steps, repeats)
    rates = {name: [batch * rate for rate in runs] for name, runs in rates.items()}

    # A model that draws no images (the domain classifier) has no sampling speed, nor has
    # a run told to draw none (sample_size 0).
    sampler = (
        ImageSampler(model, sample_size, train_config.jit_compile)
        if isinstance(model, GenerativeModel) and sample_size
        else None
    )
    result = {
        "model": family.name,
        "backend": keras.backend.backend(),
        "device": device_name(),
        "batch_size": batch,
        "train_images_per_s": statistics.median(rates["kgen"]),
        "sample_images_per_s": sampler and _sample_rate(sampler, sample_size, sample_batches),
        "input_images_per_s": input_rate,
        "dataset": info.name,
        "synthetic": synthetic,
        "image_shape": list(info.image_shape),
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "jit_compile": model.jit_compile,  # as Keras kept it: it turns XLA off where unsupported
        "steps_per_execution": model.steps_per_execution,
        "sample_jit_compile": sampler and sampler.jit_compile,
        "sample_size": sample_size,
        "mixed_precision": train_config.mixed_precision,
        "train_steps_timed": steps,
        "repeats": repeats,
    }
    if reference:
        versus = _versus(rates["kgen"], rates["reference"])
        result.update(
            reference_train_images_per_s=statistics.median(rates["reference"]),
            overhead_ratio=versus["ratio"],
            overhead_ratio_spread=versus["spread"],
            overhead_ratios=versus["ratios"],
        )
    if values:
        rates[values[0]] = rates.pop("kgen")
        versus = {value: _versus(rates[value], rates[values[0]]) for value in values}
        result["compare"] = {
            "setting": field,
            "train_images_per_s": {value: statistics.median(rates[value]) for value in values},
            "ratio": {value: versus[value]["ratio"] for value in values},
            "ratio_spread": {value: versus[value]["spread"] for value in values},
        }
    for name, draw in model.benchmark_samplers().items() if sample_size else ():
        start = time.perf_counter()
        draw(sample_size)
        result[f"{name}_images_per_s"] = _rate(sample_size, time.perf_counter() - start)
    return result


def _input_rate(iterator, batch, batches):
    """Images/second of `batches` batches drawn from `iterator` (after a first one)."""
    iterator = iter(iterator)
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return _rate(batches * batch, time.perf_counter() - start)


def _versus(ours, theirs):
    """Speeds `ours` over `theirs`, repetition by repetition (each pair was timed back to
    back): the median ratio, its lowest and highest, and every ratio."""
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {
        "ratio": statistics.median(ratios),
        "spread": [min(ratios), max(ratios)],
        "ratios": ratios,
    }


def _round_up(steps, multiple):
    return -(-steps // multiple) * multiple


def _alternating_train_rates(models, stream, warmup, steps, repeats):
    """{name: [train steps/second of each repetition]} for each of `models`, timed in turn
    within each repetition, the order reversed every other one (ABBA...) so that a machine
    slowing down or speeding up during the run favours none of them.

    Each timing is one `fit` over a fresh `stream()`: `warmup` untimed steps (filling the
    input pipeline's buffers), then `steps` timed. An untimed `fit` of each model comes
    first, so that tracing, and the process's own first-run costs (allocator, thread
    pools), fall on no timed run: without it the first model timed came out slowest.
    """
    names = list(models)
    # Whole executions of each model's steps_per_execution.
    warmups = {name: _round_up(warmup, model.steps_per_execution) for name, model in models.items()}
    for name, model in models.items():
        model.fit(stream(), steps_per_epoch=warmups[name], epochs=1, verbose=0, shuffle=False)
    rates = {name: [] for name in names}
    for repeat in range(repeats):
        for name in names if repeat % 2 == 0 else reversed(names):
            timer = _StepTimer(warmups[name])
            models[name].fit(
                stream(),
                steps_per_epoch=warmups[name] + steps,
                epochs=1,
                verbose=0,
                shuffle=False,
                callbacks=[timer],
            )
            rates[name].append(_rate(steps, timer.seconds))
    return rates


class _StepTimer(keras.callbacks.Callback):
    """Seconds from the end of the first `warmup` steps to the end of training.

    Callbacks see executions, not steps: `end_step` is the index of an execution's last
    step, and `warmup` a whole number of executions.
    """

    def __init__(self, warmup):
        super().__init__()
        self.warmup = warmup
        self._start = None
        self.seconds = None

    def on_train_batch_end(self, end_step, logs=None):
        if end_step + 1 == self.warmup:
            self._start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self._start


def _sample_rate(sampler, num, batches):
    sampler(num, 0)  # trace (and compile)
    start = time.perf_counter()
    for index in range(batches):
        sampler(num, index + 1)
    return _rate(num * batches, time.perf_counter() - start)
