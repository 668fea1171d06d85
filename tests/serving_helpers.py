"""Small exports of every family and a `kgen serve` subprocess on a free 127.0.0.1 port,
for the serving tests. Every wait is bounded in time."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx
from helpers import MNIST_INFO
from helpers import build_small_vae

from kgen.data import DatasetInfo
from kgen.export import export_saved_model
from kgen.models import get_family

START_TIMEOUT_S = 180
STOP_TIMEOUT_S = 60

PIXELCNN_INFO = DatasetInfo(
    name="synthetic", image_shape=(6, 6, 1), num_classes=10, num_examples=8, split="train"
)


def small_model(family_name):
    """A tiny model of each family: unconditional VAE and WGAN-GP, class-conditional GAN and
    PixelCNN (so both plain and named row formats are exercised)."""
    family = get_family(family_name)
    if family_name == "vae":
        return build_small_vae()
    if family_name == "pixelcnn":
        config = family.config_class(filters=4, num_blocks=1, input_kernel_size=3, conditional=True)
        return family.build(config, PIXELCNN_INFO, seed=0)
    conditional = family_name == "gan"
    config = family.config_class(latent_dim=4, base_filters=8, conditional=conditional)
    return family.build(config, MNIST_INFO, seed=0)


FAMILIES = ("vae", "pixelcnn", "gan", "wgan-gp")


def export_families(root, families=FAMILIES):
    """Export one small model per family under `root/<family>`; {family: base folder}."""
    bases = {}
    for name in families:
        bases[name] = os.path.join(root, name)
        export_saved_model(small_model(name), bases[name])
    return bases


class ServerProcess:
    """`kgen serve ARGS --port 0` in a subprocess; `url` once it is ready."""

    def __init__(self, *args, env=None):
        self.args = [sys.executable, "-m", "cli.main", "serve", *map(str, args), "--port", "0"]
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process = None
        self.url = None
        self.output = []

    def start(self, wait_ready=True):
        self.process = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while self.url is None:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("kgen serve exited early:\n" + "".join(self.output))
            self.output.append(line)
            found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError("kgen serve did not bind in time:\n" + "".join(self.output))
        self._drain_output()
        if wait_ready:
            self.wait_ready(deadline)
        return self

    def _drain_output(self):
        """Keep reading the server's output in the background, so its pipe never fills."""
        import threading

        def read():
            for line in self.process.stdout:
                self.output.append(line)

        threading.Thread(target=read, daemon=True).start()

    def wait_ready(self, deadline=None):
        deadline = deadline or time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("kgen serve exited:\n" + "".join(self.output))
            # trust_env=False here and below: the server is on 127.0.0.1, which a proxy
            # from the environment (HTTP_PROXY without NO_PROXY) must not be asked for.
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.get(self.url + "/v2/health/ready", timeout=5, trust_env=False).status_code
                    == 200
                ):
                    return
            time.sleep(0.2)
        raise RuntimeError("kgen serve was not ready in time:\n" + "".join(self.output))

    def stop(self):
        """SIGTERM, then the exit status (bounded wait; killed if it hangs)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise

    def __enter__(self):
        return self if self.process is not None else self.start()

    def __exit__(self, *exc):
        self.stop()


def post(url, body, timeout=60, **kwargs):
    """POST a JSON-able body (or raw bytes); (status, parsed JSON or text, response)."""
    content = body if isinstance(body, (bytes, str)) else json.dumps(body)
    response = httpx.post(url, content=content, timeout=timeout, trust_env=False, **kwargs)
    return response.status_code, _parsed(response), response


def get(url, timeout=30):
    response = httpx.get(url, timeout=timeout, trust_env=False)
    return response.status_code, _parsed(response), response


def _parsed(response):
    try:
        return response.json()
    except ValueError:
        return response.text
