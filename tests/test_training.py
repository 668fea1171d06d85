"""The training driver: reproducibility, mixed precision, run directories."""

import re

import numpy as np
import pytest
from helpers import invoke
from helpers import small_vae_config

from kgen.errors import ConfigError
from kgen.models import get_family
from kgen.training import TrainConfig
from kgen.training.driver import fit


def _config(tmp_path, name, **overrides):
    settings = dict(
        dataset="mnist",
        limit=128,
        batch_size=32,
        epochs=1,
        eval_split="none",
        logdir=str(tmp_path / name),
        export=str(tmp_path / f"{name}-export"),
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def test_same_seed_same_losses_and_samples(tmp_path, tfds_data_dir, mnist_small):
    runs = [
        fit(
            "vae",
            small_vae_config(),
            _config(tmp_path, name, seed=7, data_dir=str(tfds_data_dir)),
            verbose=0,
        )
        for name in ("a", "b")
    ]
    assert runs[0].metrics == runs[1].metrics
    samples = [run.model.sample(4, seed=0).numpy() for run in runs]
    np.testing.assert_array_equal(*samples)
    other = fit(
        "vae",
        small_vae_config(),
        _config(tmp_path, "c", seed=8, data_dir=str(tfds_data_dir)),
        verbose=0,
    )
    assert other.metrics != runs[0].metrics


def test_mixed_precision_trains_with_float32_weights_and_outputs(
    tmp_path, tfds_data_dir, mnist_small
):
    import keras

    result = fit(
        "vae",
        small_vae_config(),
        _config(tmp_path, "mp", seed=1, mixed_precision=True, data_dir=str(tfds_data_dir)),
        verbose=0,
    )
    assert np.isfinite(result.metrics["loss"])
    conv = next(
        layer for layer in result.model.encoder.layers if isinstance(layer, keras.layers.Conv2D)
    )
    assert conv.dtype_policy.name == "mixed_bfloat16"  # no GPU here: bfloat16
    assert all(w.dtype == "float32" for w in result.model.weights if w.dtype != "int64")
    assert result.model.sample(2, seed=0).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_logdir_with_other_settings_is_refused(tmp_path, tfds_data_dir, mnist_small):
    fit(
        "vae",
        small_vae_config(),
        _config(tmp_path, "run", seed=1, data_dir=str(tfds_data_dir)),
        verbose=0,
    )
    with pytest.raises(ConfigError, match="other settings"):
        fit(
            "vae",
            small_vae_config(latent_dim=4),
            _config(tmp_path, "run", seed=1, data_dir=str(tfds_data_dir)),
            verbose=0,
        )


@pytest.mark.parametrize("field,value", [("epochs", 0), ("limit", 0), ("log_every", -1)])
def test_bad_settings_name_the_flag(field, value):
    with pytest.raises(ConfigError, match=f"--{field.replace('_', '-')}"):
        TrainConfig(**{field: value})


def test_epochs_default_to_the_familys_and_a_given_number_is_kept():
    from kgen.models import families
    from kgen.training.driver import checked_train_config

    for family in families().values():
        resolved = checked_train_config(TrainConfig(), family)
        assert resolved.epochs == family.default_epochs and resolved.dataset
    wgan_gp, pixelcnn = get_family("wgan-gp"), get_family("pixelcnn")
    # Sized for a CPU: the slower steps train for fewer epochs.
    assert wgan_gp.default_epochs < get_family("gan").default_epochs
    assert pixelcnn.default_epochs < get_family("vae").default_epochs
    assert checked_train_config(TrainConfig(epochs=7), wgan_gp).epochs == 7
    help_text = " ".join(invoke("fit", "wgan-gp", "--help").output.split())
    expected = r"--epochs [^\[]*\[default: \(?10; pixelcnn: 3; wgan-gp: 2\b"
    assert re.search(expected, help_text), help_text


def test_multi_worker_needs_a_seed():
    with pytest.raises(ConfigError, match="--seed"):
        fit("vae", small_vae_config(), TrainConfig(strategy="multi-worker"), verbose=0)


def test_bench_reports_the_shared_keys(tfds_data_dir, mnist_small):
    from kgen.training.bench import benchmark

    config = TrainConfig(dataset="mnist", data_dir=str(tfds_data_dir), limit=128, batch_size=32)
    result = benchmark("vae", small_vae_config(), config, steps=2, warmup=1)
    for key in ("train_images_per_s", "sample_images_per_s", "input_images_per_s"):
        assert result[key] > 0
    assert result["model"] == "vae" and result["batch_size"] == 32 and result["device"]
    assert config.eval_split == "auto"  # the caller's settings are left as they were
    assert result["repeats"] == 1 and "overhead_ratio" not in result


def test_bench_times_the_reference_step_in_alternation(tfds_data_dir, mnist_small):
    from kgen.training.bench import benchmark

    # Two steps per execution: the timed and untimed steps round up to whole executions.
    config = TrainConfig(
        dataset="mnist",
        data_dir=str(tfds_data_dir),
        limit=128,
        batch_size=32,
        steps_per_execution=2,
        log_every=0,
    )
    result = benchmark(
        "vae", small_vae_config(), config, steps=3, warmup=1, sample_size=0, reference=True
    )
    assert result["sample_images_per_s"] is None  # told to draw no images
    assert result["steps_per_execution"] == 2 and result["train_steps_timed"] == 4
    assert result["repeats"] == 5 and len(result["overhead_ratios"]) == 5
    assert result["reference_train_images_per_s"] > 0
    low, high = result["overhead_ratio_spread"]
    assert 0 < low <= result["overhead_ratio"] <= high


def test_bench_reference_needs_a_family_that_defines_one(tfds_data_dir, mnist_small, monkeypatch):
    from kgen.models import VAE
    from kgen.models import KgenModel
    from kgen.training.bench import benchmark

    monkeypatch.setattr(VAE, "reference_model", KgenModel.reference_model)
    config = TrainConfig(dataset="mnist", data_dir=str(tfds_data_dir), limit=64, batch_size=32)
    with pytest.raises(ConfigError, match="VAE has no reference step"):
        benchmark("vae", small_vae_config(), config, steps=1, warmup=1, reference=True)


def test_bench_compares_settings_in_alternation(tfds_data_dir, mnist_small):
    from kgen.training.bench import benchmark

    config = TrainConfig(dataset="mnist", data_dir=str(tfds_data_dir), limit=128, batch_size=32)
    result = benchmark(
        "vae",
        small_vae_config(),
        config,
        steps=3,
        warmup=1,
        sample_size=0,
        repeats=2,
        compare=("steps_per_execution", (1, 2)),
    )
    compared = result["compare"]
    assert compared["setting"] == "steps_per_execution" and result["steps_per_execution"] == 1
    assert result["train_steps_timed"] == 4  # a whole number of executions of every value
    assert compared["ratio"][1] == 1.0 and compared["ratio"][2] > 0
    assert set(compared["train_images_per_s"]) == {1, 2}
    with pytest.raises(ConfigError, match="not both"):
        benchmark("vae", small_vae_config(), config, reference=True, compare=compared["setting"])


@pytest.mark.parametrize("compare", ["batch-size=1,2", "jit-compile=on", "steps-per-execution"])
def test_bench_compare_takes_a_step_setting_and_two_values(compare):
    from helpers import assert_clean_error
    from helpers import invoke

    assert_clean_error(invoke("bench", "vae", "--compare", compare), "--compare", "jit-compile")


def test_auto_jit_compile_is_on_for_one_device_and_off_under_distribution(
    monkeypatch, two_replica_strategy
):
    import tensorflow as tf

    from kgen.training import strategy

    # A device type whose entry is on (as GPU's is shipped), here on the CPU.
    monkeypatch.setitem(strategy.JIT_COMPILE_BY_DEVICE, "CPU", True)
    assert strategy.default_jit_compile(tf.distribute.OneDeviceStrategy("/cpu:0")) is True
    assert strategy.default_jit_compile(two_replica_strategy) is False


def test_a_run_trains_under_xla(tmp_path, tfds_data_dir, mnist_small):
    # No --seed: a seed turns on TensorFlow's op determinism, under which Keras keeps XLA
    # off (keras.src.trainers.trainer.model_supports_jit).
    config = _config(tmp_path, "xla", data_dir=str(tfds_data_dir), jit_compile="on")
    result = fit("vae", small_vae_config(), config, verbose=0)
    assert result.model.jit_compile is True
    assert np.isfinite(result.metrics["loss"]) and result.final_step == 4


def test_op_determinism_follows_each_run_not_the_first_seeded_one():
    from tensorflow.python.framework import config as framework_config

    from kgen.training.driver import _seed_everything

    _seed_everything(1, deterministic=True)
    assert framework_config.is_op_determinism_enabled()
    _seed_everything(1, deterministic=False)  # a later run without --seed in the process
    assert not framework_config.is_op_determinism_enabled()


def test_the_device_line_says_when_a_run_is_on_the_cpu_and_why(monkeypatch, two_replica_strategy):
    import tensorflow as tf

    from kgen.training import strategy

    cpu = tf.distribute.OneDeviceStrategy("/cpu:0")
    line = strategy.describe_devices(cpu)
    assert line.startswith("CPU") and "1 replica;" in line
    assert "TensorFlow sees no GPU" in line and "kgen[gpu]" in line
    assert "2 replicas" in strategy.describe_devices(two_replica_strategy)
    # A GPU TensorFlow can see, yet a CPU strategy: said as such.
    listed = tf.config.list_physical_devices
    monkeypatch.setattr(
        tf.config,
        "list_physical_devices",
        lambda kind=None: ["GPU:0"] if kind == "GPU" else listed(kind),
    )
    monkeypatch.setattr(tf.config.experimental, "get_device_details", lambda gpu: {})
    assert "a GPU is visible, but --strategy chose the CPU" in strategy.describe_devices(cpu)
