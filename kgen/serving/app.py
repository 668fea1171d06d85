"""The HTTP application (Starlette): TF Serving's REST API under /v1 (its URL patterns,
bodies, status codes and `{"error": ...}` messages), health probes under /v2/health, and
Prometheus metrics. TensorFlow runs in worker threads, so probes answer while models work."""

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import time
import zlib

from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from kgen.serving import json_tensor
from kgen.serving.manager import ModelManager
from kgen.serving.metrics import ServerMetrics
from kgen.serving.options import ServeOptions
from kgen.serving.scheduling import Batcher
from kgen.serving.scheduling import ModelGate
from kgen.serving.status import ServingError
from kgen.serving.status import deadline_exceeded
from kgen.serving.status import invalid_argument

# TF Serving's URL patterns (http_rest_api_handler.cc), case-insensitive.
PREDICTION_URL = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
STATUS_URL = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)
V1_URL = re.compile(r"(?i)/v1/.*")
log = logging.getLogger("kgen.serving")
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class Server:
    """The served models and what answers requests for them; `app` is the ASGI app."""

    def __init__(self, specs, options=None):
        self.options = options = options or ServeOptions()
        self.metrics = ServerMetrics()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            options.worker_threads, thread_name_prefix="kgen-serve"
        )
        self.manager = ModelManager(
            specs, self._run_blocking, options.poll_seconds, on_change=self._versions_changed
        )
        self._gates = {
            name: ModelGate(name, options.max_concurrent_requests, options.max_queued_requests)
            for name in self.manager.models
        }
        self._batchers = {}
        self.app = Starlette(
            routes=[
                Route("/v2/health/live", self._live, methods=["GET"]),
                Route("/v2/health/ready", self._ready, methods=["GET"]),
                Route("/monitoring/prometheus/metrics", self._metrics, methods=["GET"]),
                Route("/{path:path}", self._dispatch, methods=ALL_METHODS),
            ],
            lifespan=self._lifespan,
        )

    # --- Lifecycle ---

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        task = asyncio.get_running_loop().create_task(self.manager.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run_blocking(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def _versions_changed(self):
        for name, model in self.manager.models.items():
            self.metrics.loaded_versions.labels(name).set(len(model.loaded))
        # Batchers of versions gone from service are dropped; their worker still finishes
        # the tasks already queued, and a version loaded again gets a fresh batcher.
        for name, version, signature in list(self._batchers):
            if version not in self.manager.models[name].loaded:
                del self._batchers[name, version, signature]

    # --- Probes and metrics ---

    async def _live(self, request):
        return Response(status_code=200)

    async def _ready(self, request):
        return Response(status_code=200 if self.manager.ready() else 503)

    async def _metrics(self, request):
        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    # --- /v1: TF Serving's REST API ---

    async def _dispatch(self, request):
        # TF Serving matches its patterns against the path with its query string.
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if not V1_URL.fullmatch(path):
            return Response(status_code=404)
        if request.method == "OPTIONS":
            return _cors_preflight(request)
        started = time.monotonic()
        labels = {"model": "", "signature": "", "method": ""}
        try:
            response = await asyncio.wait_for(
                self._answer(request, path, labels), self.options.timeout_ms / 1000
            )
        except TimeoutError:
            response = _error_response(
                deadline_exceeded(
                    f"Deadline exceeded: no answer within {self.options.timeout_ms} ms "
                    "(--rest-api-timeout-ms)"
                )
            )
        except _EmptyBodyError as error:
            response = Response(status_code=error.http_status, media_type="application/json")
        except ServingError as error:
            response = _error_response(error)
        except Exception as error:  # a bug of the server's: the client still gets JSON
            log.exception("Request %s %s failed", request.method, path)
            response = _error_response(ServingError("INTERNAL", f"Internal error: {error}"))
        self.metrics.requests.labels(status=str(response.status_code), **labels).inc()
        if labels["model"]:
            self.metrics.latency.labels(labels["model"], labels["method"]).observe(
                time.monotonic() - started
            )
        return response

    async def _answer(self, request, path, labels):
        method = request.method
        malformed = invalid_argument(f"Malformed request: {method} {path}")
        match = PREDICTION_URL.fullmatch(path) if method == "POST" else None
        if match:
            name, version, label, verb = match.groups()
            # The pattern ignores case, but TF Serving compares the verb exactly.
            if verb not in ("predict", "classify", "regress"):
                raise malformed
            labels.update(model=name, method=verb)
            return await self._predict(request, name, _version(version), label, verb, labels)
        match = STATUS_URL.fullmatch(path) if method == "GET" else None
        if match:
            name, version, label, subresource = match.groups()
            metadata = subresource == "metadata"  # "/METADATA" is a status request there
            labels.update(model=name or "", method="metadata" if metadata else "status")
            if metadata:
                return self._metadata(name, _version(version), label)
            return self._status(name, _version(version))
        raise malformed

    async def _predict(self, request, name, version, label, verb, labels):
        # TF Serving's order: parse the body and its signature name, then find the model.
        body = await _read_body(request, self.options.max_request_bytes)
        parse_started = time.perf_counter()
        document = json_tensor.load_json(body, self.options.max_json_depth)
        signature_name = json_tensor.signature_name(document)
        labels["signature"] = signature_name
        if verb != "predict":
            json_tensor.check_examples(document)
        servable = self.manager.servable(name, version, label)
        signature = servable.signature(signature_name, verb)
        if verb != "predict":
            json_tensor.check_method(verb, signature)
        inputs, row_format = json_tensor.predict_inputs(document, signature)
        json_seconds = time.perf_counter() - parse_started
        self._check_limits(inputs, signature)
        signature.check_inputs(inputs)
        outputs = await self._call(servable, signature, inputs)
        format_started = time.perf_counter()
        text = json_tensor.predict_response(outputs, row_format, signature)
        json_seconds += time.perf_counter() - format_started
        self.metrics.json_seconds.labels(name).inc(json_seconds)
        return _json_response(text)

    def _check_limits(self, inputs, signature):
        """Limits that hold before any model runs: rows per request, `num` per sample call."""
        for key, array in inputs.items():
            shape = signature.inputs[key][1]
            batched = shape and shape[0] is None and array.ndim  # a wrong rank is refused next
            if batched and array.shape[0] > self.options.max_rows:
                raise invalid_argument(
                    f"Input '{key}' has {array.shape[0]} rows; this server takes at most "
                    f"{self.options.max_rows} per request (--max-rows)."
                )
            if key == "num" and array.ndim == 0 and array.dtype.kind in "iu":
                if not 0 <= int(array) <= self.options.max_sample_num:
                    raise invalid_argument(
                        f"'num' is {int(array)}; this server draws between 0 and "
                        f"{self.options.max_sample_num} images per call (--max-sample-num)."
                    )

    async def _call(self, servable, signature, inputs):
        """Run `signature` on `inputs` in a worker thread, through the model's gate or, for
        batchable signatures when batching is on, its batcher. The version stays loaded
        (in_flight) until the call has really finished, even if the request gave up."""
        loop = asyncio.get_running_loop()
        gate = self._gates[servable.name]
        servable.in_flight += 1
        batched = self.options.batching is not None and signature.batchable
        handed_over = False
        try:
            if batched:
                future = self._batcher(servable, signature).enqueue(inputs)
                self._track_queue(servable.name)
            else:
                await gate.enter()
                self.metrics.running.labels(servable.name).set(gate.running)
                future = loop.run_in_executor(
                    self._pool, self._model_call, servable.name, signature, inputs
                )
            handed_over = True
        finally:
            if not handed_over:
                servable.in_flight -= 1

        def finished(_):
            servable.in_flight -= 1
            if not batched:
                gate.leave()
                self.metrics.running.labels(servable.name).set(gate.running)
            self._track_queue(servable.name)

        future.add_done_callback(finished)
        return await asyncio.shield(future)

    def _model_call(self, name, signature, inputs):
        """Call `signature` (in a worker thread), counting its time and output rows: the
        images/second inside the model, apart from HTTP and JSON."""
        started = time.perf_counter()
        outputs = signature(inputs)
        self.metrics.model_seconds.labels(name).inc(time.perf_counter() - started)
        first = next(iter(outputs.values()), None)
        if first is not None and first.ndim:
            self.metrics.model_rows.labels(name).inc(first.shape[0])
        return outputs

    def _batcher(self, servable, signature):
        key = (servable.name, servable.version, signature.name)
        if key not in self._batchers:
            name = servable.name

            async def call(inputs):
                return await self._run_blocking(self._model_call, name, signature, inputs)

            self._batchers[key] = Batcher(
                call,
                self.options.batching,
                on_batch=lambda rows: self.metrics.batch_size.labels(name).observe(rows),
            )
        return self._batchers[key]

    def _track_queue(self, name):
        gate = self._gates[name]
        batched = sum(
            batcher.queued_rows for key, batcher in self._batchers.items() if key[0] == name
        )
        self.metrics.queue_depth.labels(name).set(gate.queued + batched)

    def _status(self, name, version):
        # TF Serving's status route reads no label: /labels/L lists every version.
        if name is None:
            raise invalid_argument("Missing model name in request.")
        states = self.manager.version_states(name, version)
        return _json_response(json_tensor.status_response(states))

    def _metadata(self, name, version, label):
        if name is None:
            raise invalid_argument("Missing model name in request.")
        servable = self.manager.servable(name, version, label)
        return _json_response(json_tensor.metadata_response(servable))


class _EmptyBodyError(ServingError):
    """An error TF Serving answers with its status and no body (a bad URL part)."""


def _version(text):
    if text is None:
        return None
    version = int(text)
    if version >= 2**63:
        raise _EmptyBodyError("INVALID_ARGUMENT", f"Failed to convert version: {text} to numeric.")
    return version


def _cors_preflight(request):
    """OPTIONS as TF Serving answers it: 200 for a CORS preflight with an http(s) Origin,
    else 400; both without a body."""
    origin = request.headers.get("origin", "")
    return Response(status_code=200 if re.match(r"https?://", origin) else 400)


async def _read_body(request, limit):
    """The request body (gunzipped when sent with Content-Encoding: gzip), refused with 413
    as soon as it is known to exceed `limit` bytes, before or after decompression."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    if "gzip" in request.headers.get("content-encoding", ""):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error:
            # As TF Serving: a body that does not gunzip reads as empty ("The document is
            # empty"), rather than as its compressed bytes.
            return b""
        if len(body) > limit:
            raise _too_large(len(body), limit, "once decompressed")
    return body


def _too_large(size, limit, when=""):
    when = f" {when}" if when else ""
    return ServingError(
        "RESOURCE_EXHAUSTED",
        f"The request body is over {limit} bytes{when} ({size} read); send fewer rows per "
        "request or raise --max-request-bytes.",
        status_override=413,
    )


def _json_response(text, status_code=200):
    return Response(text, status_code=status_code, media_type="application/json")


def _error_response(error):
    # TF Serving writes errors with rapidjson's pretty writer (MakeJsonFromStatus).
    body = '{\n    "error": ' + json.dumps(error.message, ensure_ascii=False) + "\n}"
    return Response(
        body,
        status_code=error.http_status,
        media_type="application/json",
        headers=error.headers,
    )
