"""`kgen bench MODEL`: images/second of training, sampling and the input pipeline."""

import json

import click

from cli.options import dataclass_options
from cli.options import split_kwargs
from kgen.models import families
from kgen.serving.options import BENCH_BATCHING
from kgen.serving.options import ServeOptions
from kgen.training import TrainConfig

# Training settings that mean nothing to a benchmark (it writes no run and no export, and
# measures no samples).
_BENCH_IGNORES = (
    "epochs",
    "eval_split",
    "logdir",
    "checkpoint_every",
    "log_every",
    "export",
    "fresh",
    "fid_every",
    "fid_samples",
    "fid_classifier",
)
# A benchmark without --seed uses seed 0 (kgen.training.bench), not a random one.
_BENCH_SHOWN_DEFAULTS = {"seed": "0"}


@click.group()
def bench():
    """Benchmark a model: train, sample and input-pipeline images/second."""


def _bench_command(family):
    @click.command(
        name=family.name,
        help=f"Benchmark {family.name}. Default dataset: {family.default_dataset}.",
    )
    @click.option(
        "--steps",
        default=20,
        show_default=True,
        type=click.IntRange(min=1),
        help="Timed train steps.",
    )
    @click.option(
        "--warmup",
        default=3,
        show_default=True,
        type=click.IntRange(min=1),
        help="Untimed train steps before each timed run (tracing, filling input buffers).",
    )
    @click.option(
        "--sample-size",
        default=16,
        show_default=True,
        type=click.IntRange(min=0),
        help="Images per timed sampling call (0: time no sampling).",
    )
    @click.option(
        "--reference",
        is_flag=True,
        help="Also time a minimal Keras train step on the same networks and report kgen's "
        "speed as a ratio of it (overhead_ratio).",
    )
    @click.option(
        "--compare",
        metavar="SETTING=V1,V2,...",
        help="Time the train step under each value of --jit-compile or --steps-per-execution "
        "in alternation, against the first (e.g. jit-compile=off,on).",
    )
    @click.option(
        "--repeats",
        type=click.IntRange(min=1),
        show_default="5 with --reference or --compare, else 1",
        help="Timed runs of the train step, alternating with the reference's (or the "
        "compared settings'); the median is reported.",
    )
    @click.option(
        "--synthetic",
        is_flag=True,
        help="Train on random images of the dataset's shape (made with NumPy; no dataset "
        "is read, and on JAX no TensorFlow is needed). Times no input pipeline.",
    )
    @click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON object instead of a table."
    )
    @dataclass_options(TrainConfig, exclude=_BENCH_IGNORES, shown_defaults=_BENCH_SHOWN_DEFAULTS)
    @dataclass_options(family.config_class)
    def command(
        steps, warmup, sample_size, reference, compare, repeats, synthetic, as_json, **kwargs
    ):
        from kgen.training.bench import benchmark

        model_config, train_config = split_kwargs(kwargs, family.config_class, TrainConfig)
        result = benchmark(
            family.name,
            model_config,
            train_config,
            steps=steps,
            warmup=warmup,
            sample_size=sample_size,
            reference=reference,
            repeats=repeats,
            compare=compare and _comparison(compare),
            synthetic=synthetic,
            # On stderr: --json's stdout carries the one JSON object only.
            announce=lambda message: click.echo(message, err=True),
        )
        if as_json:
            click.echo(json.dumps(result, sort_keys=False))
        else:
            width = max(len(key) for key in result)
            for key, value in result.items():
                shown = _shown(value)
                click.echo(f"{key:<{width}}  {shown}")

    return command


# Settings `--compare` takes: those that change how one step runs, not what it computes.
_COMPARABLE = ("jit-compile", "steps-per-execution")


def _comparison(text):
    """("jit_compile", ("off", "on")) from "jit-compile=off,on"; numbers become ints."""
    from kgen.errors import ConfigError

    flag, _, listed = text.partition("=")
    values = tuple(int(v) if v.strip().isdigit() else v.strip() for v in listed.split(","))
    if flag not in _COMPARABLE or len(values) < 2 or not all(values):
        raise ConfigError(
            f"--compare {text!r}: give one of {', '.join(_COMPARABLE)} and two or more values, "
            "e.g. --compare jit-compile=off,on or --compare steps-per-execution=1,4,16."
        )
    return flag.replace("-", "_"), values


def _shown(value):
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(str(_shown(item)) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_shown(item)}" for key, item in value.items())
    return value


for _family in families().values():
    bench.add_command(_bench_command(_family))


@bench.command(name="serve")
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--requests",
    default=48,
    show_default=True,
    type=click.IntRange(min=1),
    help="Requests per case and concurrency level.",
)
@click.option(
    "--concurrency",
    default="1,4,16",
    show_default=True,
    help="Comma-separated numbers of concurrent clients.",
)
@click.option(
    "--max-batch-size",
    default=BENCH_BATCHING.max_batch_size,
    show_default=True,
    type=click.IntRange(min=1),
    help="Batching runs: most rows per merged call.",
)
@click.option(
    "--batch-timeout-micros",
    default=BENCH_BATCHING.batch_timeout_micros,
    show_default=True,
    type=click.IntRange(min=0),
    help="Batching runs: how long a batch waits to fill.",
)
@click.option(
    "--max-concurrent-requests",
    default=ServeOptions.max_concurrent_requests,
    show_default=True,
    type=click.IntRange(min=1),
    help="The server's gate: model calls running at once (kgen serve's default).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def serve_command(
    path,
    requests,
    concurrency,
    max_batch_size,
    batch_timeout_micros,
    max_concurrent_requests,
    as_json,
):
    """Benchmark `kgen serve` on the SavedModel at PATH: latency and requests/s at each
    concurrency, with and without batching, beside the in-process call and the JSON work."""
    from kgen.errors import ConfigError
    from kgen.serving.bench import bench_serve
    from kgen.serving.options import BatchingOptions

    try:
        levels = tuple(int(level) for level in concurrency.split(","))
    except ValueError:
        levels = ()
    if not levels or min(levels) < 1:
        raise ConfigError(f"--concurrency {concurrency!r}: give positive integers, e.g. 1,4,16.")
    batching = BatchingOptions(
        max_batch_size=max_batch_size, batch_timeout_micros=batch_timeout_micros
    )
    result = bench_serve(
        path, levels, requests, batching, max_concurrent_requests=max_concurrent_requests
    )
    if as_json:
        click.echo(json.dumps(result))
        return
    for name, case in result["cases"].items():
        click.echo(
            f"{name}: in-process {case['in_process_ms']:.2f} ms, JSON {case['json_ms']:.2f} ms, "
            f"{case['request_bytes']:,} request bytes"
        )
        for mode in ("unbatched", "batched"):
            for level, stats in case.get(mode, {}).items():
                click.echo(
                    f"  {mode:<9} c={level:<3} p50 {stats['p50_ms']:8.2f} ms  p99 "
                    f"{stats['p99_ms']:8.2f} ms  {stats['requests_per_s']:8.1f} req/s  "
                    f"{stats['statuses']}"
                )
    for name, target in result["targets"].items():
        click.echo(f"target {name}: {'met' if target['met'] else 'MISSED'} {target}")
