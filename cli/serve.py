"""`kgen serve`: TensorFlow Serving's REST API over exported SavedModels."""

import click

from kgen.errors import ConfigError
from kgen.serving.options import BatchingOptions
from kgen.serving.options import ServeOptions

# The defaults live with the settings (kgen.serving.options); the flags show them.
SERVE = ServeOptions()
BATCHING = BatchingOptions()


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--model-config-file",
    type=click.Path(),
    default=None,
    help="TF Serving's ModelServerConfig (text format) naming the models, their base paths, "
    "version policies and labels; instead of PATHS.",
)
@click.option("--model-name", default=None, help="Serve the one PATH under this name.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8501,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="REST port (TF Serving's default); 0 lets the system choose.",
)
@click.option(
    "--file-system-poll-wait-seconds",
    default=SERVE.poll_seconds,
    show_default=True,
    type=click.FloatRange(min=0),
    help="How often base folders are scanned for new versions; 0: only at start.",
)
@click.option(
    "--rest-api-timeout-ms",
    default=SERVE.timeout_ms,
    show_default=True,
    type=click.IntRange(min=1),
    help="A request still unanswered after this long gets 504.",
)
@click.option(
    "--max-concurrent-requests",
    default=SERVE.max_concurrent_requests,
    show_default=True,
    type=click.IntRange(min=1),
    help="Calls of one model running at once.",
)
@click.option(
    "--max-queued-requests",
    default=SERVE.max_queued_requests,
    show_default=True,
    type=click.IntRange(min=0),
    help="Requests of one model waiting for a slot; beyond them: 503 with Retry-After.",
)
@click.option(
    "--max-request-bytes",
    default=SERVE.max_request_bytes,
    show_default="64 MiB",
    type=click.IntRange(min=1),
    help="Largest request body, also once gunzipped; larger: 413.",
)
@click.option(
    "--max-rows",
    default=SERVE.max_rows,
    show_default=True,
    type=click.IntRange(min=1),
    help="Most rows (batch size) of a batched input per request.",
)
@click.option(
    "--max-sample-num",
    default=SERVE.max_sample_num,
    show_default=True,
    type=click.IntRange(min=0),
    help="Most images one `sample` call (its scalar `num`) may ask for.",
)
@click.option(
    "--max-json-depth",
    default=SERVE.max_json_depth,
    show_default=True,
    type=click.IntRange(min=2),
    help="Deepest nesting of a request body's JSON.",
)
@click.option(
    "--enable-batching",
    is_flag=True,
    help="Merge concurrent requests of a batchable signature into one call (as TF Serving).",
)
@click.option(
    "--max-batch-size",
    default=BATCHING.max_batch_size,
    show_default=True,
    type=click.IntRange(min=1),
    help="With batching: most rows per merged call.",
)
@click.option(
    "--batch-timeout-micros",
    default=BATCHING.batch_timeout_micros,
    show_default=True,
    type=click.IntRange(min=0),
    help="With batching: how long a batch waits to fill.",
)
@click.option(
    "--max-enqueued-batches",
    default=BATCHING.max_enqueued_batches,
    show_default=True,
    type=click.IntRange(min=1),
    help="With batching: full batches that may wait; beyond them: 503.",
)
@click.option(
    "--num-batch-threads",
    default=BATCHING.num_batch_threads,
    show_default=True,
    type=click.IntRange(min=1),
    help="With batching: merged calls of one signature running at once.",
)
@click.option(
    "--rest-api-num-threads",
    default=SERVE.worker_threads,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker threads that run TensorFlow.",
)
def serve(paths, model_config_file, model_name, host, port, **settings):
    """Serve SavedModels over TF Serving's REST API (PATHS: base folders or version folders).

    The same client code works against `kgen serve`, TF Serving and KServe: see
    docs/serving.md. Stop with SIGTERM or Ctrl-C: in-flight requests finish first.
    """
    from kgen.serving.model_config import specs_from_config_file
    from kgen.serving.model_config import specs_from_paths
    from kgen.serving.server import serve as run_server

    if bool(paths) == bool(model_config_file):
        raise ConfigError(
            "Give the SavedModel folders to serve, or --model-config-file, but not both."
        )
    if model_config_file:
        if model_name:
            raise ConfigError("--model-name names a PATH; in --model-config-file use `name`.")
        specs = specs_from_config_file(model_config_file)
    else:
        specs = specs_from_paths(paths, model_name)
    run_server(specs, _options(**settings), host, port, announce=_announce)


def _announce(message):
    click.echo(message)


def _options(
    file_system_poll_wait_seconds,
    rest_api_timeout_ms,
    max_concurrent_requests,
    max_queued_requests,
    max_request_bytes,
    max_rows,
    max_sample_num,
    max_json_depth,
    enable_batching,
    max_batch_size,
    batch_timeout_micros,
    max_enqueued_batches,
    num_batch_threads,
    rest_api_num_threads,
):
    batching = None
    if enable_batching:
        batching = BatchingOptions(
            max_batch_size, batch_timeout_micros, max_enqueued_batches, num_batch_threads
        )
    return ServeOptions(
        poll_seconds=file_system_poll_wait_seconds,
        timeout_ms=rest_api_timeout_ms,
        max_concurrent_requests=max_concurrent_requests,
        max_queued_requests=max_queued_requests,
        max_request_bytes=max_request_bytes,
        max_rows=max_rows,
        max_sample_num=max_sample_num,
        max_json_depth=max_json_depth,
        batching=batching,
        worker_threads=rest_api_num_threads,
    )
