"""`kgen fit gan|wgan-gp` end to end on an MNIST subset, its flags, and `kgen sample` on the
export.
"""

import json
import os

import pytest
from helpers import invoke

SMALL = ["--latent-dim", 8, "--base-filters", 8]


def _tags(folder):
    import tensorflow as tf

    return {
        value.tag
        for path in folder.glob("events.*")
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
    }


@pytest.mark.parametrize(
    "name, flags",
    [
        ("gan", ["--loss", "minimax", "--d-steps", 2, "--label-smoothing", 0.1, "--conditional"]),
        ("wgan-gp", ["--gp-weight", 5, "--d-steps", 2, "--ema-decay", 0.9]),
        (
            "gan",
            [
                *["--loss", "hinge", "--spectral-norm", "--augment", "translation,cutout"],
                *["--r1-weight", 1, "--r1-every", 2, "--d-learning-rate", 4e-4],
                *["--g-learning-rate", 1e-4],
            ],
        ),
    ],
    ids=["gan", "wgan-gp", "gan-hinge-spectral-norm-augment-r1-ttur"],
)
def test_fit_then_sample_from_the_export(
    name, flags, tmp_path, tfds_data_dir, mnist_small, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "fit",
        name,
        "--limit",
        64,
        "--epochs",
        1,
        "--batch-size",
        32,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        *SMALL,
        *flags,
    )
    assert result.exit_code == 0, result.output
    export = tmp_path / "saved_models" / f"{name}_mnist"
    assert (export / "1" / "saved_model.pb").is_file()
    (run_dir,) = (tmp_path / "runs").iterdir()
    recorded = json.loads((run_dir / "run.json").read_text())["model_config"]
    expected = {
        "gan": {"d_steps": 2, "loss": "minimax", "label_smoothing": 0.1, "conditional": True},
        "wgan-gp": {"d_steps": 2, "gp_weight": 5.0, "ema_decay": 0.9},
    }[name]
    if "--spectral-norm" in flags:
        expected = {
            "loss": "hinge",
            "spectral_norm": True,
            "augment": "translation,cutout",
            "r1_weight": 1.0,
            "r1_every": 2,
            "d_learning_rate": 4e-4,
            "g_learning_rate": 1e-4,
        }
        assert "epoch_r1_penalty" in _tags(run_dir / "train")  # R1 is on: its curve is logged
    assert {key: recorded[key] for key in expected} == expected
    labels = ["--labels", "0,1,2"] if "--conditional" in flags else ["--num", 3]
    result = invoke("sample", export, *labels, "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert os.path.getsize(tmp_path / "grid.png") > 0


def test_a_bad_augmentation_policy_is_one_line_naming_the_choices(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("fit", "gan", "--augment", "translation,rotate", "--epochs", 1)
    assert result.exit_code != 0
    assert "--augment" in result.output and "'rotate'" in result.output
    assert "color, translation, cutout" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
