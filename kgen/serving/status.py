"""Errors a request can meet, as TensorFlow Serving names them, and the HTTP status each one
answers with (TF Serving's `ToHTTPStatusCode`)."""

import re

from tensorflow.core.protobuf import error_codes_pb2

# TensorFlow's canonical error codes -> HTTP status, as TF Serving maps them.
HTTP_STATUS = {
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failed with a TensorFlow status `code` (e.g. "INVALID_ARGUMENT") and the
    `message` the client reads in `{"error": ...}`.

    `headers` are extra response headers (e.g. Retry-After on an overloaded model);
    `status_override` an HTTP status where HTTP has a more precise one than the code's
    (413 for a body over the size limit).
    """

    def __init__(self, code, message, headers=None, status_override=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.status_override = status_override

    @property
    def http_status(self):
        return self.status_override or HTTP_STATUS[self.code]


def invalid_argument(message):
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message):
    return ServingError("NOT_FOUND", message)


def unavailable(message, retry_after_s=None):
    headers = {} if retry_after_s is None else {"Retry-After": str(retry_after_s)}
    return ServingError("UNAVAILABLE", message, headers)


def deadline_exceeded(message):
    return ServingError("DEADLINE_EXCEEDED", message)


def from_tensorflow(error):
    """A ServingError from a TensorFlow OpError (e.g. an in-graph guard's InvalidArgument),
    keeping its code; its message without the graph's stack trace, as servers show it."""
    code = getattr(error, "error_code", None)
    code = error_codes_pb2.Code.Name(code) if code in error_codes_pb2.Code.values() else "UNKNOWN"
    message = getattr(error, "message", None) or str(error)
    return ServingError(code, _without_graph_context(message))


def _without_graph_context(message):
    """The reason in a TensorFlow error, without the lines eager execution wraps it in
    ("Graph execution error:", "Detected at node ...", node names, the op's name)."""
    kept = []
    for line in message.splitlines():
        line = re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", line).strip()
        if not line or line.startswith(_CONTEXT_LINES) or re.fullmatch(r"\[\[.*\]\]", line):
            continue
        kept.append(line)
    return " ".join(kept) or message.strip()


_CONTEXT_LINES = ("Graph execution error", "Detected at node", "<stack traces", "File ")
