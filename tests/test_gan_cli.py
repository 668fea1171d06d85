"""`kgen fit gan|wgan-gp` end to end on an MNIST subset, its flags, and `kgen sample` on the
export.
"""

import json
import os

import pytest
from helpers import invoke

SMALL = ["--latent-dim", 8, "--base-filters", 8]


@pytest.mark.parametrize(
    "name, flags",
    [
        ("gan", ["--loss", "minimax", "--d-steps", 2, "--label-smoothing", 0.1, "--conditional"]),
        ("wgan-gp", ["--gp-weight", 5, "--d-steps", 2, "--ema-decay", 0.9]),
    ],
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
    assert {key: recorded[key] for key in expected} == expected
    labels = ["--labels", "0,1,2"] if "--conditional" in flags else ["--num", 3]
    result = invoke("sample", export, *labels, "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert os.path.getsize(tmp_path / "grid.png") > 0
