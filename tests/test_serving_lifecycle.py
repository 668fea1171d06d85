"""`kgen serve` under load and over time: overload answers only 200/503/504 and recovers,
new versions are swapped in under a stream of requests without one failing, model config
files with version policies and labels, SIGTERM drains in-flight requests, and server-side
batching gives the outputs of unbatched calls. Every loop is bounded in count and time."""

import concurrent.futures
import json
import os
import re
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import MNIST_INFO
from helpers import build_small_vae
from helpers import invoke
from serving_helpers import ServerProcess
from serving_helpers import get
from serving_helpers import post
from serving_helpers import small_model
from tensorflow_serving.apis import prediction_log_pb2

from kgen.export import export_saved_model
from kgen.models import get_family
from kgen.serving.servables import WARMUP_FILE


def _slow_pixelcnn():
    """A class-conditional PixelCNN on 28x28 images: 784 sequential steps per sample, so a
    call of 1000 images takes seconds on CPU."""
    family = get_family("pixelcnn")
    config = family.config_class(filters=4, num_blocks=1, input_kernel_size=3, conditional=True)
    return family.build(config, MNIST_INFO, seed=0)


@pytest.fixture(scope="module")
def slow_pixelcnn(tmp_path_factory):
    return export_saved_model(_slow_pixelcnn(), str(tmp_path_factory.mktemp("p") / "pixelcnn"))


def _sample_request(num, seed=0):
    return {"signature_name": "sample", "inputs": {"num": num, "seed": seed, "labels": [1] * num}}


def test_overload_and_deadline_answer_503_and_504_then_the_server_recovers(slow_pixelcnn):
    base = slow_pixelcnn.rsplit("/", 1)[0]
    options = ["--max-concurrent-requests", 1, "--max-queued-requests", 2]
    with ServerProcess(base, *options, "--rest-api-timeout-ms", 2500) as server:
        url = f"{server.url}/v1/models/pixelcnn:predict"
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            futures = [
                pool.submit(post, url, _sample_request(200, seed), 120) for seed in range(12)
            ]
            answers = [future.result(timeout=180) for future in futures]
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 503, 504}, statuses
        assert 503 in statuses and 200 in statuses, statuses
        for status, body, response in answers:
            if status == 503:
                assert response.headers["retry-after"] == "1"
                assert "busy" in body["error"]
        # A request still waiting or running after --rest-api-timeout-ms gets 504: the third
        # of three long calls, one at a time, waits for two; the server lives on.
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            late = list(pool.map(lambda seed: post(url, _sample_request(1000, seed)), range(3)))
        statuses = [status for status, _, _ in late]
        assert set(statuses) <= {200, 504} and 504 in statuses, statuses
        assert all(
            "--rest-api-timeout-ms" in body["error"] for status, body, _ in late if status == 504
        )
        # Once the burst is over the server answers normally.
        assert get(f"{server.url}/v2/health/ready")[0] == 200
        assert post(url, _sample_request(2), timeout=120)[0] == 200


def test_sigterm_drains_in_flight_requests_then_exits_0(slow_pixelcnn):
    base = slow_pixelcnn.rsplit("/", 1)[0]
    server = ServerProcess(base).start()
    url = f"{server.url}/v1/models/pixelcnn:predict"
    try:
        result = {}
        request = threading.Thread(
            target=lambda: result.update(answer=post(url, _sample_request(800), timeout=120))
        )
        request.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _running(server.url):
            time.sleep(0.02)
        assert _running(server.url), "the request never started"
        assert server.stop() == 0
        request.join(120)
        status, body, _ = result["answer"]
        assert status == 200, body
        assert np.asarray(body["outputs"]).shape == (800, 28, 28, 1)
    finally:
        server.stop()


def _running(url):
    text = get(f"{url}/monitoring/prometheus/metrics")[1]
    found = re.search(r'kgen_serve_running_requests\{model="pixelcnn"\} (\S+)', text)
    return bool(found) and float(found.group(1)) >= 1


def test_new_versions_swap_in_under_a_request_stream(tmp_path):
    base = str(tmp_path / "vae")
    first, second = build_small_vae(seed=1), build_small_vae(seed=2)
    export_saved_model(first, base)
    z = np.random.default_rng(0).normal(size=(2, 8)).astype(np.float32)
    expected = {1: first.decode(z).numpy(), 2: second.decode(z).numpy()}
    with ServerProcess(base, "--file-system-poll-wait-seconds", 0.2) as server:
        url = f"{server.url}/v1/models/vae:predict"
        answers, stop = [], threading.Event()

        def stream():
            deadline = time.monotonic() + 120
            while not stop.is_set() and len(answers) < 2000 and time.monotonic() < deadline:
                answers.append(post(url, {"instances": z.tolist()}, timeout=60))

        streamer = threading.Thread(target=stream)
        streamer.start()
        try:
            export_saved_model(second, base)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and _states(server.url) != {
                "2": "AVAILABLE",
                "1": "END",
            }:
                time.sleep(0.1)
            assert _states(server.url) == {"2": "AVAILABLE", "1": "END"}
            seen = len(answers)
            deadline = time.monotonic() + 30
            while len(answers) < seen + 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            streamer.join(120)
    assert all(status == 200 for status, _, _ in answers), [a[1] for a in answers if a[0] != 200]
    versions = [_which(body["predictions"], expected) for _, body, _ in answers]
    assert versions[0] == 1 and versions[-1] == 2
    # Once version 2 answers, version 1 never does again.
    assert versions == sorted(versions)


def _states(url):
    body = get(f"{url}/v1/models/vae")[1]
    return {entry["version"]: entry["state"] for entry in body.get("model_version_status", [])}


def _which(predictions, expected):
    got = np.asarray(predictions, np.float32)
    matches = [version for version, images in expected.items() if np.array_equal(got, images)]
    assert len(matches) == 1
    return matches[0]


def test_model_config_file_versions_labels_and_a_broken_version(tmp_path):
    base = str(tmp_path / "models" / "vae")
    models = [build_small_vae(seed=seed) for seed in (1, 2, 3)]
    for model in models:
        export_saved_model(model, base)
    # A model whose only version has a warm-up record naming a signature it lacks: TF Serving
    # fails such a load; here it must be reported and harm nothing else.
    broken = export_saved_model(build_small_vae(seed=1), str(tmp_path / "models" / "broken"))
    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.model_spec.signature_name = "nope"
    with tf.io.TFRecordWriter(os.path.join(broken, WARMUP_FILE)) as writer:
        writer.write(log.SerializeToString())
    config = tmp_path / "models.config"
    config.write_text(
        """
model_config_list {
  config {
    name: "digits"
    base_path: "models/vae"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 1 versions: 2 } }
    version_labels { key: "stable" value: 1 }
    version_labels { key: "canary" value: 2 }
  }
  config { name: "broken" base_path: "models/broken" }
}
"""
    )
    z = np.random.default_rng(0).normal(size=(1, 8)).astype(np.float32)
    with ServerProcess("--model-config-file", config).start(wait_ready=False) as server:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
            _status_of(server.url, "broken") and _version_list(server.url)
        ):
            time.sleep(0.2)
        assert _version_list(server.url) == [("2", "AVAILABLE"), ("1", "AVAILABLE")]
        for route, model in (
            ("labels/stable", 0),
            ("labels/canary", 1),
            ("versions/1", 0),
            ("", 1),
        ):
            path = f"/v1/models/digits/{route}:predict" if route else "/v1/models/digits:predict"
            status, body, _ = post(server.url + path, {"instances": z.tolist()})
            assert status == 200, body
            np.testing.assert_array_equal(
                np.asarray(body["predictions"], np.float32), models[model].decode(z).numpy()
            )
        # Version 3 is on disk but outside the policy.
        status, body, _ = post(
            f"{server.url}/v1/models/digits/versions/3:predict", {"instances": []}
        )
        assert status == 404
        # The broken version: END with its error; readiness waits for every model.
        entry = _status_of(server.url, "broken")
        assert (entry["state"], entry["status"]["error_code"]) == ("END", "UNKNOWN")
        assert "nope" in entry["status"]["error_message"]
        assert get(f"{server.url}/v2/health/ready")[0] == 503
        status, body, _ = post(f"{server.url}/v1/models/broken:predict", {"instances": z.tolist()})
        assert (status, body["error"]) == (404, "Servable not found for request: Latest(broken)")


def _version_list(url):
    status, body, _ = get(f"{url}/v1/models/digits")
    entries = body["model_version_status"] if status == 200 else []
    return [(entry["version"], entry["state"]) for entry in entries]


def test_batching_merges_calls_and_keeps_outputs(tmp_path):
    model = build_small_vae(seed=1)
    bases = {"vae": str(tmp_path / "vae"), "pixelcnn": str(tmp_path / "pixelcnn")}
    export_saved_model(model, bases["vae"])
    export_saved_model(small_model("pixelcnn"), bases["pixelcnn"])
    decode = tf.saved_model.load(f"{bases['vae']}/1").signatures["decode"]
    sample_seeds = tf.saved_model.load(f"{bases['pixelcnn']}/1").signatures["sample_seeds"]
    rows = np.random.default_rng(0).normal(size=(24, 8)).astype(np.float32)
    seeds = list(range(100, 124))
    options = ["--enable-batching", "--batch-timeout-micros", 200_000, "--max-batch-size", 8]
    with ServerProcess(*bases.values(), *options) as server:

        def decode_one(row):
            return post(f"{server.url}/v1/models/vae:predict", {"instances": [row.tolist()]})

        def sample_one(seed):
            request = {"instances": [{"seeds": seed, "labels": seed % 10}]}
            return post(f"{server.url}/v1/models/pixelcnn:predict", request)

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            decoded = list(pool.map(decode_one, rows))
            sampled = list(pool.map(sample_one, seeds))
        metrics = get(f"{server.url}/monitoring/prometheus/metrics")[1]
    for row, (status, body, _) in zip(rows, decoded):
        assert status == 200, body
        alone = decode(z=tf.constant(row[None]))["images"].numpy()
        np.testing.assert_allclose(np.asarray(body["predictions"], np.float32), alone, rtol=1e-6)
    for seed, (status, body, _) in zip(seeds, sampled):
        assert status == 200, body
        alone = sample_seeds(
            seeds=tf.constant([seed], tf.int64), labels=tf.constant([seed % 10], tf.int32)
        )["images"].numpy()
        np.testing.assert_array_equal(np.asarray(body["predictions"], np.float32), alone)
    for name in bases:
        merged = re.search(rf'kgen_serve_batch_size_count\{{model="{name}"\}} (\S+)', metrics)
        assert merged and float(merged.group(1)) < len(rows), f"no two {name} requests merged"


@pytest.mark.slow  # 30 s: a benchmark's report; the contract tests cover what it calls
def test_bench_serve_reports_every_case_and_the_targets(tmp_path):
    base = str(tmp_path / "vae")
    export_saved_model(build_small_vae(seed=1), base)
    result = invoke("bench", "serve", base, "--requests", "3", "--concurrency", "1,2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert set(report["cases"]) == {
        "serving_default[rows=1]",
        "serving_default[rows=64]",
        "sample[num=16]",
    }
    for case in report["cases"].values():
        assert case["in_process_ms"] > 0 and case["json_ms"] > 0
        for mode in ("unbatched", "batched"):
            for level in ("1", "2"):
                stats = case[mode][level]
                assert stats["statuses"] == {"200": 3}
                assert stats["p50_ms"] <= stats["p99_ms"]
                assert stats["server_model_ms"] > 0 and stats["model_images_per_s"] > 0
    assert set(report["targets"]) == {"overhead", "batching_speedup"}
    assert report["targets"]["overhead"]["limit_ms"] >= 2.0
    assert report["servers"]["batched"]["rss_mb_after"] > 0


def _status_of(url, name):
    status, body, _ = get(f"{url}/v1/models/{name}")
    entries = body.get("model_version_status", []) if status == 200 else []
    return next((entry for entry in entries if entry["state"] == "END"), None)
