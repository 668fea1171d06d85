"""The `.npz` checkpoints of runs on JAX (`kgen.training.checkpoint_formats.NpzCheckpoints`):
a process killed (SIGKILL) half-way through writing one leaves the checkpoints before it
whole, the newest of them is the one a resume reads, and the next save clears the killed
writer's temporary file away. (A whole run on JAX broken and resumed from its checkpoint
ends as if unbroken: tests/test_backends.py.)"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from kgen.training.checkpoint_formats import NpzCheckpoints

# Saves steps 2 and 4, then kills itself after the first bytes of step 6's file.
KILLED_WRITER = """
import os
import signal
import sys

import numpy as np

from kgen.training.checkpoint_formats import NpzCheckpoints

store = NpzCheckpoints(sys.argv[1], max_to_keep=3)
write = np.savez


def die_half_way(stream, **values):
    stream.write(b"PK\\x03\\x04 the first bytes of a checkpoint")
    stream.flush()
    os.kill(os.getpid(), signal.SIGKILL)


for step in (2, 4, 6):
    if step == 6:
        np.savez = die_half_way
    store.step.assign(step)
    store.save({"layer/kernel": np.full(3, float(step), "float32")})
raise SystemExit("the kill did not happen")
"""


class Variable:
    """What a store restores into: something with `assign`."""

    def __init__(self):
        self.value = None

    def assign(self, value):
        self.value = np.asarray(value)


def test_a_writer_killed_mid_checkpoint_leaves_the_last_whole_one_to_resume_from(tmp_path):
    folder = tmp_path / "checkpoints"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(folder)],
        cwd=Path(__file__).resolve().parents[1],
        env=dict(os.environ, KERAS_BACKEND="jax"),  # the backend whose runs write these
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    left = sorted(path.name for path in folder.iterdir())
    assert left[:2] == ["ckpt-2.npz", "ckpt-4.npz"] and len(left) == 3, left
    assert left[2].endswith(".npz.tmp"), left

    store = NpzCheckpoints(str(folder), max_to_keep=3)
    latest = store.latest(str(folder))
    assert Path(latest).name == "ckpt-4.npz" and store.read_step(latest) == 4
    kernel = Variable()
    store.restore(latest, {"layer/kernel": kernel}, partial=False)
    np.testing.assert_array_equal(kernel.value, np.full(3, 4.0, "float32"))
    assert int(store.step.numpy()) == 4

    store.step.assign(6)
    store.save({"layer/kernel": np.full(3, 6.0, "float32")})
    assert sorted(path.name for path in folder.iterdir()) == [
        "ckpt-2.npz",
        "ckpt-4.npz",
        "ckpt-6.npz",
    ]
