"""PixelCNN model: exact likelihood, fast sampling equals the naive reference, round trips,
replicas, and its command line."""

import functools
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from helpers import assert_one_step_same_on_two_replicas
from helpers import invoke
from helpers import run_with_tensorflow_only

from kgen.data import DatasetInfo
from kgen.errors import ConfigError
from kgen.export import export_saved_model
from kgen.models import PixelCNNConfig
from kgen.models import get_family


def _info(shape, num_classes=10):
    return DatasetInfo(
        name="synthetic", image_shape=shape, num_classes=num_classes, num_examples=64, split="train"
    )


def _model(shape=(6, 6, 1), variant="pixelcnn", conditional=False, seed=1, **overrides):
    keras.utils.set_random_seed(0)
    settings = dict(variant=variant, filters=12, num_blocks=2, conditional=conditional)
    settings.update(overrides)
    return get_family("pixelcnn").build(PixelCNNConfig(**settings), _info(shape), seed=seed)


def _images(shape, num=3, seed=0):
    rng = np.random.default_rng(seed)
    if shape[-1] == 1:
        return (rng.random((num,) + shape) < 0.4).astype("float32")
    return (rng.integers(0, 256, size=(num,) + shape) / 255.0).astype("float32")


def _log_prob_of_one_value(params, value, likelihood):
    """log p(value | params of one colour of one pixel), written out directly."""
    if likelihood == "bernoulli":
        p = 1.0 / (1.0 + np.exp(-params[0]))
        return math.log(p if value == 1.0 else 1.0 - p)
    logits = params.astype("float64")
    log_softmax = logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max()
    return log_softmax[int(round(value * 255))]


@pytest.mark.parametrize("variant", ["pixelcnn", "gated"])
@pytest.mark.parametrize("shape", [(4, 4, 1), (3, 3, 3)])
def test_log_likelihood_is_the_sum_of_per_pixel_conditionals(variant, shape):
    model = _model(shape, variant)
    images = _images(shape, num=2)
    targets = model.likelihood.targets(images, None).numpy()
    channels = shape[-1]
    expected = np.zeros(len(images))
    # One pixel and colour at a time: hide it and everything after it, so each conditional
    # is computed from the earlier values alone.
    for index in range(int(np.prod(shape))):
        row, col, colour = np.unravel_index(index, shape)
        visible = targets.reshape(len(images), -1).copy()
        visible[:, index:] = 0.0
        params = model.network(visible.reshape(targets.shape)).numpy()[
            :, row, col, colour::channels
        ]
        for n in range(len(images)):
            expected[n] += _log_prob_of_one_value(
                params[n], images[n, row, col, colour], model.likelihood_name
            )
    np.testing.assert_allclose(model.log_likelihood(images).numpy(), expected, rtol=1e-4)


def test_metrics_are_nats_per_image_and_bits_per_dimension():
    model = _model()
    images = _images((6, 6, 1))
    terms = model.per_example_terms(images)
    np.testing.assert_allclose(terms["loss"], -model.log_likelihood(images), rtol=1e-6)
    np.testing.assert_allclose(terms["bits_per_dim"], terms["loss"] / (36 * math.log(2)), rtol=1e-6)


def _levels(images):
    return np.round(np.asarray(images) * 255).astype(int)


@pytest.mark.parametrize(
    "variant, shape, conditional",
    [
        ("pixelcnn", (7, 7, 1), False),
        ("gated", (7, 7, 1), True),
        # Colour by colour is checked by the gated 3-channel case; this one is the slowest.
        pytest.param("pixelcnn", (5, 5, 3), True, marks=pytest.mark.slow),
        ("gated", (5, 5, 3), False),
    ],
)
def test_fast_sampling_draws_the_same_images_as_the_naive_reference(variant, shape, conditional):
    model = _model(shape, variant, conditional)
    labels = np.array([0, 3, 9], "int32") if conditional else None
    seed = tf.constant(7, tf.int64)
    fast = tf.function(lambda s: model.sample(3, seed=s, labels=labels))(seed)
    naive = model.sample_naive(3, seed=seed, labels=labels)
    np.testing.assert_array_equal(_levels(fast), _levels(naive))
    assert 0 < _levels(fast).mean() < 255  # not a blank image
    other = model.sample_naive(3, seed=tf.constant(8, tf.int64), labels=labels)
    assert not np.array_equal(_levels(naive), _levels(other))
    # Under XLA (as kgen bench and the TensorBoard grids run it) on the same noise.
    noise = model.sampling_noise(3, seed=seed, labels=labels)
    compiled = tf.function(model.sample_from_noise, jit_compile=True)(noise, labels)
    np.testing.assert_array_equal(_levels(compiled), _levels(naive))


def test_conditional_samples_depend_on_the_labels():
    model = _model((6, 6, 1), "gated", conditional=True)
    for layer in model.network.blocks:  # make the label matter a lot
        layer.label_bias.embeddings.assign(np.linspace(-3, 3, 10)[:, None] * np.ones((1, 24)))
    seed = tf.constant(3, tf.int64)
    zero, nine = np.zeros(8, "int32"), np.full(8, 9, "int32")
    zeros, nines = model.sample(8, seed=seed, labels=zero), model.sample(8, seed=seed, labels=nine)
    assert not np.array_equal(zeros, nines)
    # Each label's samples are likelier under their own label than under the other.
    mean_log_p = lambda images, labels: float(np.mean(model.log_likelihood(images, labels)))
    assert mean_log_p(zeros, zero) > mean_log_p(zeros, nine)
    assert mean_log_p(nines, nine) > mean_log_p(nines, zero)


def test_keras_archive_round_trip_gives_identical_likelihoods_and_samples(tmp_path):
    model = _model((6, 6, 3), "gated", conditional=True)
    path = str(tmp_path / "pixelcnn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    images, labels = _images((6, 6, 3)), np.array([1, 2, 3], "int32")
    np.testing.assert_array_equal(
        loaded.log_likelihood(images, labels), model.log_likelihood(images, labels)
    )
    seed = tf.constant(5, tf.int64)
    np.testing.assert_array_equal(
        loaded.sample(3, seed=seed, labels=labels), model.sample(3, seed=seed, labels=labels)
    )


# Scores and samples with the SavedModel alone, as a server would.
LOG_PROB_AND_SAMPLE = """
log_prob = loaded.signatures["log_prob"](images=tf.constant(inputs["images"]))["log_prob"]
sample = loaded.signatures["sample"](num=tf.constant(3), seed=tf.constant(4, tf.int64))["images"]
outputs.update(log_prob=log_prob.numpy(), sample=sample.numpy())
outputs["signatures"] = sorted(loaded.signatures)
"""


def test_saved_model_serves_log_prob_and_sample_without_kgen(tmp_path):
    model = _model((6, 6, 1), "gated")
    path = export_saved_model(model, str(tmp_path / "pixelcnn"))
    images = _images((6, 6, 1))
    out = run_with_tensorflow_only(path, LOG_PROB_AND_SAMPLE, images=images)
    assert list(out["signatures"]) == ["log_prob", "sample", "sample_seeds", "serving_default"]
    np.testing.assert_allclose(out["log_prob"], model.log_likelihood(images), rtol=1e-5)
    np.testing.assert_array_equal(out["sample"], model.sample(3, seed=tf.constant(4, tf.int64)))


def test_one_step_same_weights_on_one_and_two_replicas(two_replica_strategy):
    images = _images((8, 8, 1), num=16)  # 0/1 pixels: no binarization noise
    build = functools.partial(_model, (8, 8, 1), "gated")
    assert_one_step_same_on_two_replicas(two_replica_strategy, build, images)


@pytest.mark.parametrize(
    "overrides, shape, fragment",
    [
        (dict(filters=10), (6, 6, 3), "--filters 10"),
        (dict(kernel_size=4), (6, 6, 1), "--kernel-size 4"),
        (dict(num_blocks=0), (6, 6, 1), "--num-blocks must be at least 1; got 0"),
        (dict(conditional=True), (6, 6, 1), "--conditional"),
        (dict(), (6, 6, 2), "1 (grey) or 3 (RGB)"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, shape, fragment):
    settings = dict(dict(filters=12, num_blocks=2), **overrides)
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        get_family("pixelcnn").build(PixelCNNConfig(**settings), _info(shape, num_classes=None))


# --- Command line, on the default dataset (binarized MNIST cut to 64 images per split) ---

SMALL = ["--filters", "8", "--num-blocks", "1", "--input-kernel-size", "3"]


@pytest.fixture(scope="module")
def fitted_pixelcnn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pixelcnn")
    with pytest.MonkeyPatch.context() as patch:
        # 64 examples per split keep TFDS's preparation of binarized MNIST to seconds.
        patch.setattr(
            tfds.download,
            "DownloadConfig",
            functools.partial(tfds.download.DownloadConfig, max_examples_per_split=64),
        )
        patch.chdir(folder)
        result = invoke(
            "fit",
            "pixelcnn",
            "--variant",
            "gated",
            "--epochs",
            1,
            "--batch-size",
            32,
            "--data-dir",
            folder / "tfds",
            "--seed",
            0,
            *SMALL,
        )
        bench = invoke(
            "bench",
            "pixelcnn",
            "--json",
            "--steps",
            1,
            "--warmup",
            1,
            "--batch-size",
            16,
            "--sample-size",
            2,
            "--data-dir",
            folder / "tfds",
            *SMALL,
        )
    assert result.exit_code == 0, result.output
    assert bench.exit_code == 0, bench.output
    return folder, result.output, bench


@pytest.mark.real_data
def test_fit_pixelcnn_defaults_to_binarized_mnist_and_exports(fitted_pixelcnn):
    folder, output, _ = fitted_pixelcnn
    assert "saved_models/pixelcnn_binarized_mnist/1" in output
    assert "Device: CPU" in output and "TensorFlow sees no GPU" in output
    assert "Plan: 1 epoch of " in output and "A time estimate follows the first steps." in output
    assert "bits_per_dim" in output
    (run_dir,) = (folder / "runs").iterdir()
    assert json.loads((run_dir / "run.json").read_text())["model_config"]["variant"] == "gated"


def test_sample_and_eval_work_on_the_export(fitted_pixelcnn, classifier, tmp_path):
    folder, _, _ = fitted_pixelcnn
    export = folder / "saved_models" / "pixelcnn_binarized_mnist"
    out = tmp_path / "grid.png"
    result = invoke("sample", export, "--num", 4, "--seed", 1, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file()
    result = invoke(
        "eval",
        export,
        "--dataset",
        "binarized_mnist",
        "--split",
        "test",
        "--limit",
        100,
        "--num-samples",
        8,
        "--classifier",
        classifier,
        "--data-dir",
        folder / "tfds",
        "--json",
        tmp_path / "eval.json",
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert set(metrics) == {"nll", "fid", "kid", "precision", "recall"} and metrics["fid"] > 0
    nll = metrics["nll"]
    assert nll["nats"] > 0
    assert nll["bits_per_dim"] == pytest.approx(nll["nats"] / (784 * math.log(2)), rel=1e-4)


@pytest.mark.real_data
def test_bench_adds_the_naive_sampler(fitted_pixelcnn):
    _, _, bench = fitted_pixelcnn
    result = json.loads(bench.stdout)  # stdout is the JSON alone
    assert "Benchmarking pixelcnn on CPU" in bench.stderr  # where it runs, said first
    assert result["model"] == "pixelcnn" and result["sample_size"] == 2
    assert result["sample_images_per_s"] > result["sample_naive_images_per_s"] > 0
