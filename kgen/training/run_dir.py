"""Run directories: where a run's TensorBoard logs, checkpoints and record (run.json) live.

run.json holds what is needed to rebuild the model without the data (family, settings,
image shape, classes) and to recognise the same command run again, so that it resumes.
"""

import dataclasses
import json
import os
import time

from kgen.errors import ConfigError
from kgen.errors import ModelNotFound
from kgen.utils.files import write_json

RECORD = "run.json"
CHECKPOINTS = "checkpoints"
# Settings that do not change what is trained (where data is read from, how often to log or
# checkpoint, how the steps are run), so a re-run that differs in them still resumes.
_NOT_IDENTITY = (
    "logdir",
    "fresh",
    "export",
    "epochs",
    "data_dir",
    "manual_dir",
    "checkpoint_every",
    "log_every",
    "strategy",
    "jit_compile",
    "steps_per_execution",
    "fid_every",
    "fid_samples",
    "fid_classifier",
)


@dataclasses.dataclass
class RunDir:
    """A run's folder and its record."""

    path: str
    record: dict

    @property
    def checkpoint_dir(self):
        return os.path.join(self.path, CHECKPOINTS)

    @property
    def seed(self):
        return self.record["seed"]

    def save(self):
        write_json(os.path.join(self.path, RECORD), self.record, sort_keys=True)

    def mark(self, status):
        self.record["status"] = status
        self.save()

    @classmethod
    def load(cls, path):
        record_path = os.path.join(path, RECORD)
        if not os.path.isfile(record_path):
            raise ModelNotFound(
                f"{path!r} is not a kgen run directory (no {RECORD}). Pass the folder that "
                "`kgen fit` printed as its run directory."
            )
        with open(record_path) as handle:
            return cls(path, json.load(handle))


def identity(record):
    """The parts of a record that must match for a re-run to resume it."""
    train = {k: v for k, v in record["train_config"].items() if k not in _NOT_IDENTITY}
    if record.get("seed_given") is False:
        train.pop("seed", None)
    key = {
        "family": record["family"],
        "dataset": record["dataset"],
        "model_config": record["model_config"],
        "train_config": train,
    }
    return json.loads(json.dumps(key))  # as stored: tuples become lists


def _resumed(run, record):
    """`run`, taking the new command's --epochs (training longer is still the same run)."""
    run.record["train_config"]["epochs"] = record["train_config"]["epochs"]
    return run


def open_run(record, logdir=None, runs_root="runs", fresh=False):
    """The run to train in: `logdir` if given, else the newest unfinished run with the same
    identity under `runs_root`, else a new `runs_root/<family>-<dataset>-<time>`."""
    if logdir:
        if os.path.isfile(os.path.join(logdir, RECORD)):
            existing = RunDir.load(logdir)
            if fresh:
                raise ConfigError(
                    f"--logdir {logdir!r} already holds a run; with --fresh choose an empty folder."
                )
            if identity(existing.record) != identity(record):
                raise ConfigError(
                    f"--logdir {logdir!r} holds a run with other settings; resume it with the "
                    "same settings, or choose another --logdir."
                )
            return _resumed(existing, record), True
        run = RunDir(logdir, record)
        run.save()
        return run, False
    if not fresh and os.path.isdir(runs_root):
        prefix = f"{record['family']}-{record['dataset']['name']}-"
        for name in sorted(os.listdir(runs_root), reverse=True):
            path = os.path.join(runs_root, name)
            if not name.startswith(prefix) or not os.path.isfile(os.path.join(path, RECORD)):
                continue
            candidate = RunDir.load(path)
            if candidate.record.get("status") != "completed" and identity(
                candidate.record
            ) == identity(record):
                return _resumed(candidate, record), True
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = os.path.join(runs_root, f"{record['family']}-{record['dataset']['name']}-{stamp}")
    suffix = 1
    while os.path.exists(path):
        path = os.path.join(
            runs_root, f"{record['family']}-{record['dataset']['name']}-{stamp}-{suffix}"
        )
        suffix += 1
    run = RunDir(path, record)
    run.save()
    return run, False
