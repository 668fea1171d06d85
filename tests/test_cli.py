"""The command line: a short fit end to end, sample, export, and clean errors on bad input."""

import numpy as np
import pytest
from helpers import assert_clean_error
from helpers import invoke
from helpers import invoke_in

from kgen.export import saved_model_metadata

SMALL_VAE = ["--latent-dim", "8", "--base-filters", "8", "--hidden-units", "64"]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so runs/ and saved_models/ land there."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, tfds_data_dir, mnist_small):
    """One short `kgen fit vae` run shared by the tests that inspect its outputs."""
    folder = tmp_path_factory.mktemp("fitted")
    result = invoke_in(
        folder,
        "fit",
        "vae",
        "--limit",
        128,
        "--epochs",
        1,
        "--batch-size",
        32,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        "--checkpoint-every",
        2,
        "--log-every",
        1,
        *SMALL_VAE,
    )
    assert result.exit_code == 0, result.output
    return folder, result.output


def test_fit_writes_logs_checkpoints_and_export_and_says_where(fitted):
    folder, output = fitted
    (run_dir,) = (folder / "runs").iterdir()
    assert f"Run directory: runs/{run_dir.name}" in output
    assert "saved_models/vae_mnist/1" in output
    assert (run_dir / "run.json").is_file()
    assert any((run_dir / "checkpoints").glob("ckpt-4.index"))  # 128 / 32 = 4 steps
    events = {p.parent.name for p in run_dir.rglob("events.out.tfevents.*")}
    assert events == {"train", "validation", "hparams"}
    assert (folder / "saved_models" / "vae_mnist" / "1" / "saved_model.pb").is_file()
    # The export records where the model came from: family, dataset and step.
    metadata = saved_model_metadata(str(folder / "saved_models" / "vae_mnist"))
    assert (metadata["family"], metadata["dataset"], metadata["step"]) == ("vae", "mnist", 4)
    assert metadata["max_sample_num"] == 1000


def test_tensorboard_has_step_and_epoch_scalars_and_image_grids(fitted):
    import tensorflow as tf

    folder, _ = fitted
    (run_dir,) = (folder / "runs").iterdir()
    tags = set()
    for path in (run_dir / "train").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    assert {
        "batch_loss",
        "epoch_loss",
        "epoch_kl",
        "epoch_reconstruction",
        "samples",
        "reconstructions",
    } <= tags


def test_sample_writes_a_png_grid(fitted):
    import matplotlib.image

    folder, _ = fitted
    out = folder / "grid.png"
    result = invoke(
        "sample", folder / "saved_models" / "vae_mnist", "--num", 9, "--seed", 0, "--out", out
    )
    assert result.exit_code == 0, result.output
    grid = matplotlib.image.imread(out)
    assert grid.shape[:2] == (3 * 29 - 1, 3 * 29 - 1)  # 3x3 images of 28 px, 1 px gaps


def test_export_from_a_run_directory_adds_a_version(fitted, monkeypatch):
    folder, _ = fitted
    monkeypatch.chdir(folder)
    (run_dir,) = (folder / "runs").iterdir()
    result = invoke("export", run_dir, "--export", folder / "re-exported", "--max-sample-num", 64)
    assert result.exit_code == 0, result.output
    assert (folder / "re-exported" / "1" / "saved_model.pb").is_file()
    metadata = saved_model_metadata(str(folder / "re-exported"))
    assert (metadata["family"], metadata["dataset"], metadata["step"]) == ("vae", "mnist", 4)
    assert metadata["max_sample_num"] == 64


def test_version_and_help():
    version = invoke("--version").output
    assert version.startswith("kgen 0.") and "backend tensorflow" in version, version
    for command in (
        ["--help"],
        ["fit", "vae", "--help"],
        ["sample", "--help"],
        ["export", "--help"],
        ["bench", "vae", "--help"],
    ):
        result = invoke(*command)
        assert result.exit_code == 0 and "Usage" in result.output


def test_backend_is_read_before_keras_is_imported():
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Loading the CLI imports no Keras: the commands load after --backend is read.
    check = "import sys, cli.main; assert 'keras' not in sys.modules, 'Keras imported'"
    loaded = subprocess.run([sys.executable, "-c", check], cwd=root, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    command = [sys.executable, "-m", "cli.main", "--backend", "jax", "--version"]
    version = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert version.returncode == 0, version.stderr[-2000:]
    assert "backend jax" in version.stdout, version.stdout
    # In a process whose Keras already runs on TensorFlow, another backend is refused.
    result = invoke("--backend", "jax", "--version")
    assert_clean_error(result, "--backend", "already runs on tensorflow", "KERAS_BACKEND=jax")


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["fit", "vae", "--dataset", "no_such_dataset"], ["no_such_dataset"]),
        (["fit", "vae", "--batch-size", "0"], ["--batch-size", "0"]),
        (["fit", "vae", "--likelihood", "gaussian"], ["gaussian"]),
        (
            ["fit", "vae", "--strategy", "multi-worker", "--seed", "0", "--dataset", "{npz}"],
            ["TF_CONFIG"],
        ),
        (["fit", "vae", "--strategy", "multi-worker", "--dataset", "{npz}"], ["--seed"]),
        (["fit", "vae", "--dataset", "{empty}"], ["{empty}"]),
        (["fit", "vae", "--dataset", "{npz}", "--batch-size", "64"], ["--batch-size"]),
        (["sample", "{missing}"], ["No SavedModel", "{missing}"]),
        (["sample", "{missing}", "--num", "0"], ["--num"]),
        (["export", "{empty}"], ["not a kgen run directory"]),
    ],
)
def test_bad_input_gives_one_clear_message(in_tmp, monkeypatch, args, fragments):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    empty = in_tmp / "empty_folder"
    empty.mkdir()
    np.savez(in_tmp / "tiny.npz", images=np.zeros((8, 28, 28), np.uint8))
    names = {
        "empty": str(empty),
        "npz": str(in_tmp / "tiny.npz"),
        "missing": str(in_tmp / "missing"),
    }
    args = [a.format(**names) for a in args]
    fragments = [f.format(**names) for f in fragments]
    assert_clean_error(invoke(*args), *fragments)


def test_eval_reports_elbo_and_iwae_in_nats_and_bits(fitted, tfds_data_dir, monkeypatch):
    import json

    folder, _ = fitted
    monkeypatch.chdir(folder)
    (run_dir,) = (folder / "runs").iterdir()
    out = folder / "eval.json"
    result = invoke(
        "eval",
        run_dir,
        "--metrics",
        "nll",
        "--limit",
        40,
        "--batch-size",
        20,
        "--importance-samples",
        8,
        "--data-dir",
        tfds_data_dir,
        "--json",
        out,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["protocol"]["likelihood"] == {"num_images": 40, "importance_samples": 8}
    assert report["split"] == "test" and report["dataset"] == "mnist"
    assert set(report["metrics"]) == {"negative_elbo", "iwae_nll"}
    for name in ("negative_elbo", "iwae_nll"):
        nats = report["metrics"][name]["nats"]
        assert 0 < nats < 1000
        assert abs(report["metrics"][name]["bits_per_dim"] - nats / (784 * np.log(2))) < 1e-6
    assert "negative_elbo" in result.output and "bits/dim" in result.output


@pytest.mark.parametrize("protocol, importance_samples", [(None, 100), ("full", 1000)])
def test_eval_protocol_sizes_the_iwae_bound(
    fitted, tfds_data_dir, monkeypatch, protocol, importance_samples
):
    import json

    from kgen.evaluation import PROTOCOLS

    folder, _ = fitted
    monkeypatch.chdir(folder)
    (run_dir,) = (folder / "runs").iterdir()
    out = folder / f"eval-{protocol}.json"
    chosen = ["--protocol", protocol] if protocol else []
    args = ["--metrics", "nll", "--limit", 4, "--data-dir", tfds_data_dir, "--json", out]
    result = invoke("eval", run_dir, *chosen, *args)
    assert result.exit_code == 0, result.output
    protocol = protocol or "quick"
    report = json.loads(out.read_text())
    assert report["protocol"]["name"] == protocol
    assert report["protocol"]["likelihood"]["importance_samples"] == importance_samples
    assert PROTOCOLS[protocol]["importance_samples"] == importance_samples
    assert (
        f"Evaluating by the {protocol} protocol: likelihood of 4 mnist/test images "
        f"({importance_samples} importance samples each)."
    ) in result.output
    # The CLI offers exactly the protocols the library defines.
    from cli.eval import eval_command

    (option,) = [o for o in eval_command.params if o.name == "protocol"]
    assert list(option.type.choices) == list(PROTOCOLS)


def test_eval_of_a_saved_model_needs_a_dataset(fitted):
    folder, _ = fitted
    assert_clean_error(invoke("eval", folder / "saved_models" / "vae_mnist"), "--dataset")
