"""MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1.

Both workers run the real driver (`fit`, with its metrics, checkpoints and callbacks) and must
end with identical weights; only the chief writes the run directory and the export.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("multiworker_worker.py")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_loopback_end_with_identical_weights(tmp_path, mnist_small, tfds_data_dir):
    # mnist_small has prepared MNIST in tfds_data_dir, so the workers only read it.
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        work_dir = tmp_path / f"worker{index}"
        processes.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(tfds_data_dir), str(work_dir), str(tmp_path / f"w{index}.npz")],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=300)[0])
        finally:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-4000:]

    chief, other = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert int(chief["step"]) == int(other["step"]) == 8  # 2 epochs x 128/32 steps
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    assert (tmp_path / "worker0" / "run" / "run.json").is_file()
    assert (tmp_path / "worker0" / "export" / "1" / "saved_model.pb").is_file()
    assert not (tmp_path / "worker1" / "export").exists()
