"""One worker of the two-process tests of `--strategy multi-worker` (run by
test_multiworker.py), on the backend KERAS_BACKEND names.

Usage: python multiworker_worker.py DATA_DIR WORK_DIR OUT.npz [LOGDIR [STRATEGY]], with
TF_CONFIG (TensorFlow) or the KERAS_DISTRIBUTION_* variables (JAX) set. LOGDIR defaults to
WORK_DIR/run, a folder of this worker's own (also when given empty); the resume test gives
both workers the same one. STRATEGY (default multi-worker) lets one process train the same
run on its own devices. The chief prints where it trains ("Resuming ... from step N.").
"""

import functools
import sys

import keras
import numpy as np

from kgen.models import VAEConfig
from kgen.training import TrainConfig
from kgen.workflows import train


def main(data_dir, work_dir, out_path, logdir=None, strategy="multi-worker"):
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
            strategy=strategy,
            logdir=logdir or f"{work_dir}/run",
            export=f"{work_dir}/export",
            checkpoint_every=2,
        ),
        verbose=0,
        announce=functools.partial(print, flush=True),
    )
    weights = {f"w{i}": keras.ops.convert_to_numpy(w) for i, w in enumerate(result.model.weights)}
    np.savez(out_path, step=result.final_step, **weights)


if __name__ == "__main__":
    main(*sys.argv[1:])
