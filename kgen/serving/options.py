"""The settings of `kgen serve` and of `kgen bench serve`, with their defaults: one place that
the server and the command line both read (importing it loads nothing heavy)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters: rows per merged call, how long the first request
    waits for others (microseconds), how many full batches may wait, calls at once."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 16
    num_batch_threads: int = 1


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """The server's limits and behaviour (the `kgen serve` flags)."""

    poll_seconds: float = 1.0
    timeout_ms: int = 30000
    max_concurrent_requests: int = 4
    max_queued_requests: int = 32
    max_request_bytes: int = 64 * 2**20
    max_rows: int = 1024
    max_sample_num: int = 1000
    max_json_depth: int = 32
    batching: BatchingOptions | None = None
    worker_threads: int = 16


# Batching for `kgen bench serve`: room for its 64-row case in one call, 2 ms to fill a batch.
BENCH_BATCHING = BatchingOptions(max_batch_size=128, batch_timeout_micros=2000)
