"""`fit --fid-every` whose domain classifier is not cached yet, in a process of its own (run
by test_evaluation.py): the classifier's own training must not collide with the run's
MirroredStrategy, and must not leave op determinism on for a run without --seed.

Usage: python fid_first_use_script.py DATA_DIR CACHE_DIR WORK_DIR OUT.json
"""

import functools
import json
import os
import sys

import tensorflow as tf
from tensorflow.python.framework.config import is_op_determinism_enabled as op_determinism_enabled

# Two logical CPUs for a two-replica MirroredStrategy, as tests/conftest.py sets them up.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)


def main(data_dir, cache_dir, work_dir, out_path):
    os.environ["KGEN_CACHE_DIR"] = cache_dir
    from kgen.models import VAEConfig
    from kgen.training import TrainConfig
    from kgen.training import driver
    from kgen.workflows import classifiers
    from kgen.workflows import train

    # A test-sized classifier: one epoch on the first 256 images (cached apart from the real one).
    classifiers.CLASSIFIER_EPOCHS = 1
    classifiers.domain_classifier = functools.partial(
        classifiers.domain_classifier, train_limit=256
    )
    # As on a machine with two GPUs, where --strategy auto means mirrored (the two logical
    # CPUs stand in for them): a classifier trained under `auto` makes a second MirroredStrategy.
    make_strategy = driver.make_strategy
    driver.make_strategy = lambda name="auto", devices=None: make_strategy(
        "mirrored" if name == "auto" else name, devices
    )

    result = train(
        "vae",
        VAEConfig(latent_dim=4, base_filters=8, hidden_units=32),
        TrainConfig(
            dataset="mnist",
            data_dir=data_dir,
            limit=128,
            batch_size=32,
            epochs=1,
            strategy="mirrored",
            fid_every=1,
            fid_samples=64,
            logdir=f"{work_dir}/run",
            export=f"{work_dir}/export",
        ),
        verbose=0,
    )
    with open(out_path, "w") as stream:
        json.dump(
            {
                "metrics": {k: float(v) for k, v in result.metrics.items()},
                "op_determinism": op_determinism_enabled(),
                "classifiers": sorted(os.listdir(os.path.join(cache_dir, "classifiers"))),
            },
            stream,
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
