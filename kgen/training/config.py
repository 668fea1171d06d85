"""Settings shared by every family's training run, with documented defaults."""

import dataclasses
from typing import Literal

from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import Range
from kgen.models.config_fields import at_least
from kgen.models.config_fields import setting


@dataclasses.dataclass
class TrainConfig(CheckedSettings):
    """How to train: data, batch, epochs, distribution, logging, checkpoints, export."""

    dataset: str | None = setting(
        None,
        "TFDS name (mnist, fashion_mnist, binarized_mnist, cifar10, celeb_a, ...), a folder of "
        "png/jpg images (sub-folders are labels) or a .npz with `images` [and `labels`]. "
        "Default: the model's own.",
    )
    data_dir: str | None = setting(None, "TFDS data directory (default: TFDS's own).")
    manual_dir: str | None = setting(
        None,
        "Folder with raw dataset files for offline TFDS preparation.",
        envvar="KGEN_MANUAL_DIR",
    )
    limit: int | None = setting(
        None,
        "Use only the first N examples of the training (and evaluation) split.",
        at_least(1),
        shown_default="all",
    )
    image_size: int | None = setting(
        None, "Centre-crop and resize images to this size.", at_least(1)
    )
    eval_split: str = setting(
        "auto", "Split evaluated each epoch: a split name, 'auto' (test if any) or 'none'."
    )
    batch_size: int = setting(128, "Global batch size, split across replicas.", at_least(1))
    epochs: int | None = setting(
        None,
        "Number of passes over the training data.",
        at_least(1),
        shown_default="the model's",
    )
    seed: int | None = setting(
        None,
        "Random seed; with one, CPU runs are reproducible (same losses, same samples).",
        Range(0, 2**32 - 1),  # what NumPy's global seed accepts
        shown_default="random, recorded",
    )
    strategy: Literal["auto", "one-device", "mirrored", "multi-worker"] = setting(
        "auto", "Distribution: auto = mirrored when more than one GPU is visible."
    )
    mixed_precision: bool = setting(
        False, "Mixed precision: float16 with loss scaling on GPU, bfloat16 elsewhere."
    )
    jit_compile: Literal["auto", "on", "off"] = setting(
        "auto",
        "XLA compilation of the train step; auto = on for one GPU, off on a CPU and under "
        "distribution.",
        envvar="KGEN_JIT_COMPILE",
    )
    steps_per_execution: Literal["auto"] | int = setting(
        "auto",
        "Train steps N run per call of the compiled train function (one round trip from "
        "Python for N steps). Checkpoints, step scalars and the NaN guard see every N-th step, "
        "so N must divide --checkpoint-every, --log-every and the steps per epoch; auto: the "
        "device type's default, lowered to such a divisor.",
        at_least(1),
    )
    logdir: str | None = setting(
        None,
        "Run directory (default: runs/<model>-<dataset>-<time>, or the unfinished run "
        "of the same command, which is resumed).",
    )
    checkpoint_every: int = setting(
        500, "Also checkpoint every N steps (0: only at the end of each epoch).", at_least(0)
    )
    log_every: int = setting(50, "Write step scalars to TensorBoard every N steps.", at_least(0))
    export: str | None = setting(
        None, "SavedModel base folder (default: saved_models/<model>_<dataset>)."
    )
    fresh: bool = setting(False, "Start a new run even if an unfinished one matches.")
    fid_every: int = setting(
        0,
        "Log FID and KID of the current model's samples to TensorBoard every N epochs (0: never).",
        at_least(0),
    )
    fid_samples: int = setting(
        1000,
        "Generated (and real evaluation-split) images per FID/KID measurement in training.",
        at_least(2),  # a covariance needs two images
    )
    fid_classifier: str | None = setting(
        None,
        "Domain classifier for --fid-every: a SavedModel from `kgen fit classifier` or the "
        "labelled dataset to train one on (default: the training dataset's, cached on first use).",
    )
