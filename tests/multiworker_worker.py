"""One worker of the two-process MultiWorkerMirroredStrategy tests (run by test_multiworker.py).

Usage: python multiworker_worker.py DATA_DIR WORK_DIR OUT.npz [LOGDIR], with TF_CONFIG set.
LOGDIR defaults to WORK_DIR/run, a folder of this worker's own; the resume test gives both
workers the same one. The chief prints where it trains ("Resuming ... from step N.").
"""

import functools
import sys

import numpy as np

from kgen.models import VAEConfig
from kgen.training import TrainConfig
from kgen.workflows import train


def main(data_dir, work_dir, out_path, logdir=None):
    result = train(
        "vae",
        VAEConfig(latent_dim=8, base_filters=8, hidden_units=64),
        TrainConfig(
            dataset="mnist",
            data_dir=data_dir,
            limit=128,
            batch_size=32,
            epochs=2,
            seed=3,
            strategy="multi-worker",
            logdir=logdir or f"{work_dir}/run",
            export=f"{work_dir}/export",
            checkpoint_every=2,
        ),
        verbose=0,
        announce=functools.partial(print, flush=True),
    )
    weights = {f"w{i}": w.numpy() for i, w in enumerate(result.model.weights)}
    np.savez(out_path, step=result.final_step, **weights)


if __name__ == "__main__":
    main(*sys.argv[1:])
