"""Running the server: bind 127.0.0.1 (or the host asked for), serve until SIGTERM or
SIGINT, then stop accepting, let in-flight requests finish, and return (exit status 0)."""

import logging
import signal
import socket

import uvicorn

from kgen.serving.app import Server
from kgen.serving.options import ServeOptions


def serve(specs, options=None, host="127.0.0.1", port=8501, announce=print):
    """Serve `specs` (kgen.serving.model_config ModelSpecs) until told to stop.

    `announce(message)` hears the address once the socket is bound (with `port=0`, the port
    the system chose). Returns after a graceful shutdown.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    server = Server(specs, options or ServeOptions())
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    # Listening before the address is announced: a client that connects at once waits in
    # the backlog until uvicorn accepts, rather than being refused.
    listener.listen(2048)
    announce(f"Serving {len(specs)} model(s) on http://{_address(listener)}")
    config = uvicorn.Config(
        server.app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=None,  # drain: wait for every in-flight request
    )
    # uvicorn handles SIGTERM/SIGINT while it runs (stop accepting, drain) and re-raises the
    # signal afterwards; with this handler in place the re-raised SIGTERM ends the process
    # normally, exit status 0, as a drained server should.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()


def _address(listener):
    host, port = listener.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
