"""`--strategy multi-worker` with two worker processes on 127.0.0.1: MultiWorkerMirroredStrategy
on TensorFlow, and `jax.distributed` with Keras's DataParallel on JAX.

Both workers run the real driver (`fit`, with its metrics, checkpoints and callbacks) and must
end with identical weights; only the chief writes the run directory and the export. A killed
run resumes on both workers from the shared --logdir and ends as if never interrupted;
workers that would resume from different steps all refuse instead of hanging. On JAX the two
processes also end with the weights one process trains on two devices.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import FAST_XLA_COMPILE
from helpers import jax_environment

from kgen.models import VAEConfig
from kgen.training import TrainConfig
from kgen.training.driver import fit

WORKER = Path(__file__).with_name("multiworker_worker.py")
REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # seconds any two-worker run may take before the test calls it a hang


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _cluster_variables(backend, ports, index):
    """The environment that makes a process worker `index` of a cluster on `ports`: TF_CONFIG
    on TensorFlow, the KERAS_DISTRIBUTION_* variables (`jax.distributed`) on JAX."""
    addresses = [f"127.0.0.1:{port}" for port in ports]
    if backend == "jax":
        return dict(
            KERAS_BACKEND="jax",
            XLA_FLAGS=FAST_XLA_COMPILE,
            KERAS_DISTRIBUTION_JOB_ADDRESSES=",".join(addresses),
            KERAS_DISTRIBUTION_NUM_PROCESSES=str(len(ports)),
            KERAS_DISTRIBUTION_PROCESS_ID=str(index),
        )
    cluster = {"worker": addresses}
    return dict(
        TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    )


def _start_workers(folder, commands, backend="tensorflow"):
    """Start one process per command, as worker i of a cluster on 127.0.0.1, in `folder`."""
    ports = _free_ports(len(commands))
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    processes = []
    for index, command in enumerate(commands):
        env = dict(
            os.environ,
            **_cluster_variables(backend, ports, index),
            TF_CPP_MIN_LOG_LEVEL="2",
            CUDA_VISIBLE_DEVICES="",
            PYTHONPATH=str(REPO),
            TMPDIR=str(folder / "tmp"),
        )  # a killed worker's scratch checkpoints stay here
        processes.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return processes


def _outputs(processes, timeout=TIMEOUT):
    """Each process's output once all have exited; any still running after `timeout` is killed."""
    deadline = time.time() + timeout
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=max(1, deadline - time.time()))[0])
        except subprocess.TimeoutExpired:
            process.kill()
            outputs.append(process.communicate()[0] + f"\n[still running after {timeout}s: killed]")
    return outputs


def _worker_commands(data_dir, folder, logdirs=(None, None)):
    return [
        [
            sys.executable,
            str(WORKER),
            str(data_dir),
            str(folder / f"worker{index}"),
            str(folder / f"w{index}.npz"),
            *([str(logdir)] if logdir else []),
        ]
        for index, logdir in enumerate(logdirs)
    ]


def _train_to_the_end(data_dir, folder, logdirs=(None, None), backend="tensorflow"):
    processes = _start_workers(folder, _worker_commands(data_dir, folder, logdirs), backend)
    outputs = _outputs(processes)
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]
    return outputs


def _checkpointed_step(folder):
    latest = tf.train.latest_checkpoint(str(folder))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist_small, tfds_data_dir):
    """A two-worker run trained to the end, each worker with a --logdir of its own."""
    # mnist_small has prepared MNIST in tfds_data_dir, so the workers only read it.
    folder = tmp_path_factory.mktemp("uninterrupted")
    _train_to_the_end(tfds_data_dir, folder)
    return folder


def test_two_workers_on_loopback_end_with_identical_weights(uninterrupted):
    chief, other = np.load(uninterrupted / "w0.npz"), np.load(uninterrupted / "w1.npz")
    assert int(chief["step"]) == int(other["step"]) == 8  # 2 epochs x 128/32 steps
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    assert (uninterrupted / "worker0" / "run" / "run.json").is_file()
    assert (uninterrupted / "worker0" / "export" / "1" / "saved_model.pb").is_file()
    assert not (uninterrupted / "worker1" / "export").exists()


# On JAX, two processes joined by `jax.distributed` (gloo collectives on CPU), one device
# each, train as one process does on two devices: Keras's DataParallel gives each process its
# part of every global batch, and the step's means and batch statistics span both. Slow
# (54 s alone on the 2-core CI machine: three JAX processes, two of them at once, and an
# export).
@pytest.mark.slow
def test_two_jax_processes_train_as_one_process_on_two_devices(
    tmp_path, tfds_data_dir, mnist_small
):
    _train_to_the_end(tfds_data_dir, tmp_path, backend="jax")
    alone = subprocess.run(
        [sys.executable, str(WORKER), str(tfds_data_dir), str(tmp_path / "alone")]
        + [str(tmp_path / "alone.npz"), "", "mirrored"],
        env=jax_environment(devices=2, PYTHONPATH=str(REPO)),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert alone.returncode == 0, alone.stderr[-4000:]
    chief, other = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    one_process = np.load(tmp_path / "alone.npz")
    assert int(chief["step"]) == int(other["step"]) == int(one_process["step"]) == 8
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
        np.testing.assert_allclose(chief[key], one_process[key], rtol=2e-4, atol=2e-6, err_msg=key)
    assert (tmp_path / "worker0" / "run" / "run.json").is_file()
    assert (tmp_path / "worker0" / "export" / "1" / "saved_model.pb").is_file()
    assert not (tmp_path / "worker1" / "export").exists()


@pytest.mark.slow
def test_killed_two_worker_run_resumes_on_both_and_matches_an_uninterrupted_run(
    uninterrupted, tmp_path, tfds_data_dir
):
    shared = tmp_path / "shared"  # the --logdir every worker can read
    commands = _worker_commands(tfds_data_dir, tmp_path, (shared, shared))
    processes = _start_workers(tmp_path, commands)
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and not _checkpointed_step(shared / "checkpoints"):
        if any(process.poll() is not None for process in processes):
            break
        time.sleep(0.05)
    for process in processes:
        process.send_signal(signal.SIGKILL)
    _outputs(processes)
    killed_at = _checkpointed_step(shared / "checkpoints")
    assert 2 <= killed_at < 8, (
        f"the run was not killed mid-way (checkpoint of step {killed_at} of 8)"
    )

    outputs = _train_to_the_end(tfds_data_dir, tmp_path, (shared, shared))
    assert f"Resuming {shared} from step {killed_at}." in outputs[0], outputs[0][-4000:]
    straight = np.load(uninterrupted / "w0.npz")
    for index in range(2):
        resumed = np.load(tmp_path / f"w{index}.npz")
        assert int(resumed["step"]) == 8
        for key in straight.files:
            np.testing.assert_array_equal(
                resumed[key], straight[key], err_msg=f"worker {index}: {key}"
            )


def test_workers_resuming_from_different_steps_all_refuse_in_one_line(
    tmp_path, tfds_data_dir, mnist_small
):
    # The chief's --logdir holds a checkpoint after epoch 1 (trained here on one device: the
    # strategy is not part of a run's identity); worker 1's --logdir holds none.
    settings = dict(
        dataset="mnist",
        data_dir=str(tfds_data_dir),
        limit=128,
        batch_size=32,
        seed=3,
        checkpoint_every=2,
        logdir=str(tmp_path / "chief-run"),
    )
    model = dict(latent_dim=8, base_filters=8, hidden_units=64)
    fit(
        "vae",
        VAEConfig(**model),
        TrainConfig(epochs=1, strategy="one-device", export=str(tmp_path / "export"), **settings),
        verbose=0,
    )
    assert _checkpointed_step(tmp_path / "chief-run" / "checkpoints") == 4

    def command(logdir):
        flags = {**settings, **model, "epochs": 2, "strategy": "multi-worker", "logdir": logdir}
        return [
            sys.executable,
            "-m",
            "cli.main",
            "fit",
            "vae",
            *[
                part
                for name, value in flags.items()
                for part in (f"--{name.replace('_', '-')}", str(value))
            ],
        ]

    processes = _start_workers(
        tmp_path, [command(tmp_path / "chief-run"), command(tmp_path / "worker1-run")]
    )
    started = time.time()
    outputs = _outputs(processes, timeout=180)
    for index, (process, output) in enumerate(zip(processes, outputs)):
        assert process.returncode not in (0, None), f"worker {index}:\n{output[-4000:]}"
        assert "Traceback" not in output, f"worker {index}:\n{output[-4000:]}"
        errors = [line for line in output.splitlines() if line.startswith("Error:")]
        assert errors == [
            "Error: The workers would resume from different checkpoints "
            "(worker 0 from step 4, worker 1 from step 0): give every worker the same --logdir, "
            "on storage they all can read."
        ], f"worker {index}:\n{output[-4000:]}"
    print(f"both workers refused after {time.time() - started:.0f}s")
