"""Prometheus metrics of the server (prometheus-client), served at
/monitoring/prometheus/metrics: requests by model, signature and status, latency, queue depth,
merged batch sizes and loaded versions."""

import prometheus_client

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ServerMetrics:
    """The server's metrics in a registry of their own (several servers may share a process)."""

    def __init__(self):
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "kgen_serve_requests",
            "Requests answered, by model, signature (empty when none applies), method and "
            "HTTP status.",
            ["model", "signature", "method", "status"],
            registry=self.registry,
        )
        self.latency = prometheus_client.Histogram(
            "kgen_serve_request_latency_seconds",
            "Time from a request's arrival to its answer, by model and method.",
            ["model", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = prometheus_client.Gauge(
            "kgen_serve_queue_depth",
            "Requests waiting for a model (gate queue and batch queue rows), by model.",
            ["model"],
            registry=self.registry,
        )
        self.running = prometheus_client.Gauge(
            "kgen_serve_running_requests",
            "Requests running in a model now, by model.",
            ["model"],
            registry=self.registry,
        )
        self.batch_size = prometheus_client.Histogram(
            "kgen_serve_batch_size",
            "Rows in each merged call of server-side batching, by model.",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
            registry=self.registry,
        )
        self.model_seconds = prometheus_client.Counter(
            "kgen_serve_model_call_seconds",
            "Time spent inside model calls (TensorFlow), by model.",
            ["model"],
            registry=self.registry,
        )
        self.model_rows = prometheus_client.Counter(
            "kgen_serve_model_call_rows",
            "Rows (images, for image outputs) returned by model calls, by model.",
            ["model"],
            registry=self.registry,
        )
        self.json_seconds = prometheus_client.Counter(
            "kgen_serve_json_seconds",
            "Time spent reading request JSON into tensors and writing outputs as JSON, by model.",
            ["model"],
            registry=self.registry,
        )
        self.loaded_versions = prometheus_client.Gauge(
            "kgen_serve_loaded_versions",
            "Versions loaded and available, by model.",
            ["model"],
            registry=self.registry,
        )

    def exposition(self):
        """(body, content type) of the metrics in Prometheus's text format."""
        return prometheus_client.generate_latest(
            self.registry
        ), prometheus_client.CONTENT_TYPE_LATEST
