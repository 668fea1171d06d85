"""The evaluation harness: the domain classifier and its cache, sample-quality figures on real
images, `kgen eval` for likelihood and sample-quality models, and FID during training."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_clean_error
from helpers import invoke
from helpers import run_with_tensorflow_only

from kgen.data import images_and_labels
from kgen.data import load_source
from kgen.errors import ConfigError
from kgen.evaluation import ClassifierFeatures
from kgen.evaluation import ReferenceSet
from kgen.evaluation import resolve_metrics
from kgen.workflows import domain_classifier
from kgen.workflows import feature_extractor


@pytest.fixture(scope="module")
def real_images(tfds_data_dir):
    """(train images, test images): 500 of each."""
    train, _ = load_source("mnist", "train", data_dir=tfds_data_dir, limit=500)
    test, _ = load_source("mnist", "test", data_dir=tfds_data_dir, limit=500)
    return images_and_labels(train)[0], images_and_labels(test)[0]


# Classifies and gives features with the SavedModel alone, as a server would.
FEATURES_AND_PROBABILITIES = """
images = tf.constant(inputs["images"])
outputs["features"] = loaded.signatures["features"](images=images)["features"].numpy()
serving = loaded.signatures["serving_default"]
outputs["probabilities"] = serving(images=images)["probabilities"].numpy()
"""


def test_classifier_savedmodel_classifies_and_gives_features_in_a_tensorflow_only_process(
    classifier,
):
    images = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    out = run_with_tensorflow_only(classifier, FEATURES_AND_PROBABILITIES, images=images)
    np.testing.assert_allclose(
        out["features"],
        ClassifierFeatures(classifier)(images),
        rtol=1e-5,
        atol=1e-5,
    )
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)


def test_fid_of_real_train_vs_test_is_small_and_against_noise_large(classifier, real_images):
    train, test = real_images
    reference = ReferenceSet(ClassifierFeatures(classifier), test)
    same_domain = reference.compare(train)
    noise = reference.compare(np.random.default_rng(0).uniform(size=train.shape).astype("float32"))
    itself = reference.compare(test)
    assert itself["fid"] < 1e-6 and itself["precision"] == itself["recall"] == 1.0
    assert same_domain["fid"] < 0.05 * noise["fid"], (same_domain, noise)
    assert same_domain["kid"]["mean"] < 0.05 * noise["kid"]["mean"]
    assert same_domain["precision"] > 0.5 and same_domain["recall"] > 0.5
    # Noise lands in one tight cluster of features: it covers none of the real manifold.
    assert noise["recall"] < 0.05


@pytest.mark.real_data
def test_domain_classifier_is_trained_once_and_cached(tfds_data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KGEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("kgen.workflows.classifiers.CLASSIFIER_EPOCHS", 1)
    said = []
    with pytest.raises(ConfigError, match="No mnist domain classifier is cached"):
        domain_classifier(
            "mnist", data_dir=str(tfds_data_dir), train_limit=512, train_missing=False
        )
    first = domain_classifier(
        "mnist", data_dir=str(tfds_data_dir), announce=said.append, train_limit=512
    )
    # It says why it trains, then, as `kgen fit` does, the device, the run and the plan.
    assert "first use" in said[0] and said[1].startswith("Device: ")
    assert said[-1].startswith("Plan: 1 epoch of 4 steps")
    told = len(said)
    record = json.loads(
        (tmp_path / "classifiers" / "mnist-first512" / "classifier.json").read_text()
    )
    assert record["test_images"] == 10000 and 0.2 < record["test_accuracy"] <= 1.0  # chance: 0.1
    assert first.description["test_accuracy"] == record["test_accuracy"]
    again = domain_classifier(
        "mnist", data_dir=str(tfds_data_dir), announce=said.append, train_limit=512
    )
    assert len(said) == told  # not retrained
    images = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype("float32")
    np.testing.assert_array_equal(first(images), again(images))


def test_unlabelled_dataset_uses_its_labelled_twin_or_says_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "kgen.workflows.classifiers.domain_classifier", lambda source, **kwargs: source
    )
    _, info = load_source(str(_npz(tmp_path, labels=False)), "train")
    assert feature_extractor("classifier", "binarized_mnist", info) == "mnist"
    with pytest.raises(ConfigError, match="--classifier"):
        feature_extractor("classifier", str(tmp_path / "tiny.npz"), info)


def _npz(folder, labels):
    arrays = {"images": np.zeros((8, 28, 28), np.uint8)}
    if labels:
        arrays["labels"] = np.arange(8) % 2
    np.savez(folder / "tiny.npz", **arrays)
    return folder / "tiny.npz"


def test_metrics_default_to_what_the_model_has_and_refuse_nll_without_a_likelihood():
    class WithLikelihood:
        has_likelihood = True

    class WithoutLikelihood:
        has_likelihood = False

    assert resolve_metrics(None, WithLikelihood()) == ["nll", "fid", "kid", "precision", "recall"]
    assert resolve_metrics(None, WithoutLikelihood()) == ["fid", "kid", "precision", "recall"]
    assert resolve_metrics("fid, kid", WithoutLikelihood()) == ["fid", "kid"]
    with pytest.raises(ConfigError, match="nll"):
        resolve_metrics("nll,fid", WithoutLikelihood())
    with pytest.raises(ConfigError, match="psnr"):
        resolve_metrics("psnr", WithLikelihood())


@pytest.mark.slow  # builds InceptionV3 twice: 27 s of the fast suite
def test_inception_features_resize_to_299_with_three_channels(tmp_path):
    import keras

    from kgen.evaluation import InceptionFeatures

    # The ImageNet weights need internet; a local weights file of the same network stands in.
    weights = str(tmp_path / "inception.weights.h5")
    keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None).save_weights(
        weights
    )
    extractor = InceptionFeatures(weights)
    images = np.random.default_rng(0).uniform(size=(3, 28, 28, 1)).astype("float32")
    features = extractor(images, batch_size=2)
    assert features.shape == (3, 2048) and np.isfinite(features).all()
    coloured = np.repeat(images, 3, axis=-1)
    np.testing.assert_allclose(features, extractor(coloured), rtol=1e-4, atol=1e-4)
    assert extractor.description["input_size"] == 299
    with pytest.raises(ConfigError, match="--inception-weights"):
        InceptionFeatures(str(tmp_path / "inception.weights.h5").replace("inception", "missing"))


# --fid-every counts epochs, which Keras ends whatever --steps-per-execution is (it divides
# the 4 steps of an epoch here), so the measurement comes after the same epochs with 2.
@pytest.mark.parametrize("steps_per_execution", [1, 2])
def test_fid_during_training_is_logged_next_to_the_sample_grids(
    classifier, tfds_data_dir, tmp_path, monkeypatch, steps_per_execution
):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "fit",
        "vae",
        "--steps-per-execution",
        steps_per_execution,
        "--limit",
        256,
        "--epochs",
        2,
        "--batch-size",
        64,
        "--latent-dim",
        4,
        "--base-filters",
        8,
        "--hidden-units",
        32,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        "--fid-every",
        2,
        "--fid-samples",
        100,
        "--fid-classifier",
        classifier,
        "--logdir",
        "run",
    )
    assert result.exit_code == 0, result.output
    scalars, images = {}, set()
    for path in (tmp_path / "run" / "train").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag.startswith("epoch_"):
                    scalars.setdefault(value.tag, {})[event.step] = float(
                        tf.make_ndarray(value.tensor)
                    )
                else:
                    images.add(value.tag)
    assert set(scalars["epoch_fid"]) == {1}  # every 2nd epoch: after epoch index 1 only
    assert (
        scalars["epoch_fid"][1] > 0 and scalars["epoch_kid"][1] > scalars["epoch_kid_std"][1] >= 0
    )
    assert "samples" in images
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["train_config"]["steps_per_execution"] == steps_per_execution


@pytest.mark.slow  # trains a classifier and a run in a subprocess
def test_fid_every_trains_a_missing_classifier_before_the_runs_strategy_and_leaves_determinism_off(
    tfds_data_dir, mnist_small, tmp_path
):
    # In a process of its own: in this one the suite's two_replica_strategy exists, and a
    # second MirroredStrategy would collide with it, which is the failure under test.
    script = os.path.join(os.path.dirname(__file__), "fid_first_use_script.py")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "cache").mkdir()
    out = tmp_path / "out.json"
    done = subprocess.run(
        [
            sys.executable,
            script,
            str(tfds_data_dir),
            str(tmp_path / "cache"),
            str(tmp_path / "work"),
            str(out),
        ],
        env=dict(os.environ, PYTHONPATH=repo, TF_CPP_MIN_LOG_LEVEL="2"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result = json.loads(out.read_text())
    assert result["classifiers"] == ["mnist-first256"]  # trained by this run: the cache was empty
    assert result["metrics"]["fid"] > 0 and result["metrics"]["kid"] > 0
    assert result["op_determinism"] is False  # no --seed: the classifier's seed 0 did not leak


def test_eval_of_a_vae_run_reports_likelihood_and_sample_quality_with_protocol(
    classifier, tfds_data_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "fit",
        "vae",
        "--limit",
        128,
        "--epochs",
        1,
        "--batch-size",
        32,
        "--latent-dim",
        4,
        "--base-filters",
        8,
        "--hidden-units",
        32,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        "--logdir",
        "run",
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "eval.json"
    args = [
        "eval",
        "run",
        "--limit",
        200,
        "--num-samples",
        150,
        "--importance-samples",
        4,
        "--classifier",
        classifier,
        "--data-dir",
        tfds_data_dir,
        "--json",
        out,
    ]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    metrics, protocol = report["metrics"], report["protocol"]
    assert set(metrics) == {"negative_elbo", "iwae_nll", "fid", "kid", "precision", "recall"}
    assert metrics["iwae_nll"]["nats"] <= metrics["negative_elbo"]["nats"] + 1.0
    assert metrics["fid"] > 0 and set(metrics["kid"]) == {"mean", "std"}
    assert 0 <= metrics["precision"] <= 1 and 0 <= metrics["recall"] <= 1
    assert protocol["num_generated"] == 150 and protocol["num_reference"] == 200
    assert protocol["reference_split"] == "test" and protocol["seed"] == 0
    assert protocol["likelihood"] == {"num_images": 200, "importance_samples": 4}
    assert protocol["name"] == "quick"
    assert protocol["feature_extractor"]["name"] == "domain_classifier"
    assert 0.5 < protocol["feature_extractor"]["test_accuracy"] <= 1
    for name in ("iwae_nll", "fid", "kid", "precision"):
        assert name in result.output
    # It says what it will compute before it starts; both long passes then show a
    # progress bar, in the order they run.
    plan = result.output.index(
        "Evaluating by the quick protocol: likelihood of 200 mnist/test images (4 importance "
        "samples each); fid, kid, precision, recall of 150 samples against them."
    )
    likelihood_bar = result.output.index("Likelihood on mnist/test")
    assert plan < likelihood_bar
    assert result.output.index("Sampling 150 images") > likelihood_bar
    # The same command gives the same figures.
    first = metrics
    assert invoke(*args).exit_code == 0
    assert json.loads(out.read_text())["metrics"] == first
    tags = set()
    for path in (tmp_path / "run" / "eval").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    assert {"test/fid", "test/kid/mean", "test/iwae_nll/bits_per_dim", "test/recall"} <= tags


def test_eval_of_a_gan_saved_model_measures_samples_and_refuses_nll(
    classifier, tfds_data_dir, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    result = invoke(
        "fit",
        "gan",
        "--limit",
        64,
        "--epochs",
        1,
        "--batch-size",
        32,
        "--latent-dim",
        8,
        "--base-filters",
        8,
        "--data-dir",
        tfds_data_dir,
        "--seed",
        0,
        "--conditional",
    )
    assert result.exit_code == 0, result.output
    saved = tmp_path / "saved_models" / "gan_mnist"
    common = [
        "--dataset",
        "mnist",
        "--limit",
        100,
        "--classifier",
        classifier,
        "--data-dir",
        tfds_data_dir,
    ]
    result = invoke("eval", saved, *common, "--metrics", "nll,fid")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "no likelihood" in result.output and "--metrics" in result.output
    result = invoke("eval", saved, *common, "--json", tmp_path / "gan.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "gan.json").read_text())
    assert set(report["metrics"]) == {"fid", "kid", "precision", "recall", "label_accuracy"}
    accuracy = report["metrics"]["label_accuracy"]  # conditional: samples vs their labels
    assert 0 <= accuracy["generated"] <= 1 and 0.5 < accuracy["real"] <= 1
    assert "label_accuracy" in result.output
    assert report["protocol"]["num_generated"] == 100
    assert report["protocol"]["generator"] == "ema"
    assert "Sampling 100 images" in result.output and "Likelihood" not in result.output
    assert not os.path.exists(saved / "eval")  # a SavedModel gets no TensorBoard logs
    # The raw generator is one flag away; it samples other images, so other figures.
    result = invoke("eval", saved, *common, "--generator", "raw", "--json", tmp_path / "raw.json")
    assert result.exit_code == 0, result.output
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert (
        raw["protocol"]["generator"] == "raw" and raw["metrics"]["fid"] != report["metrics"]["fid"]
    )


def test_eval_generator_choice_is_refused_for_a_model_with_one_generator(tmp_path):
    from helpers import build_small_vae

    from kgen.export import export_saved_model

    saved = export_saved_model(build_small_vae(), str(tmp_path / "vae"))
    result = invoke("eval", saved, "--dataset", "mnist", "--generator", "raw", "--metrics", "nll")
    assert_clean_error(result, "--generator raw", "one set of weights")


def test_label_accuracy_compares_samples_with_the_labels_they_were_drawn_for(
    classifier, tfds_data_dir, monkeypatch
):
    from helpers import MNIST_INFO

    from kgen.evaluation import evaluate
    from kgen.evaluation import harness
    from kgen.models import get_family

    test, info = load_source("mnist", "test", data_dir=tfds_data_dir, limit=200)
    images, labels = images_and_labels(test)
    family = get_family("gan")
    model = family.build(
        family.config_class(latent_dim=8, base_filters=8, conditional=True), MNIST_INFO
    )
    extractor = ClassifierFeatures(classifier)

    def evaluate_with_samples(drawn_for):
        # "Samples" that are the real test images, drawn for the labels `drawn_for`.
        monkeypatch.setattr(
            harness.ImageSampler,
            "images_and_labels",
            lambda self, num, seed, progress=None: (images, drawn_for),
        )
        return evaluate(model, test, info, metrics=["fid"], extractor=extractor)["metrics"]

    # Perfect samples of the requested labels score what the classifier scores on real images.
    accuracy = evaluate_with_samples(labels)["label_accuracy"]
    assert accuracy["generated"] == accuracy["real"] == extractor.accuracy(images, labels)
    assert accuracy["real"] > 0.5
    # Samples that ignore their label score about one in ten.
    shuffled = np.random.default_rng(0).permutation(labels)
    assert evaluate_with_samples(shuffled)["label_accuracy"]["generated"] < 0.3
    # An unconditional model has no labels to be true to.
    unconditional = family.build(family.config_class(latent_dim=8, base_filters=8), MNIST_INFO)
    monkeypatch.setattr(
        harness.ImageSampler,
        "images_and_labels",
        lambda self, num, seed, progress=None: (images, None),
    )
    report = evaluate(unconditional, test, info, metrics=["fid"], extractor=extractor)
    assert "label_accuracy" not in report["metrics"]


def test_the_sampler_returns_the_labels_it_drew_each_image_for():
    from helpers import MNIST_INFO

    from kgen.models import get_family
    from kgen.models.image_sampler import ImageSampler

    family = get_family("gan")
    model = family.build(
        family.config_class(latent_dim=8, base_filters=8, conditional=True), MNIST_INFO
    )
    sampler = ImageSampler(model, batch_size=4, jit_compile="off")
    images, drawn_for = sampler.images_and_labels(10, seed=3)
    np.testing.assert_array_equal(drawn_for, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])  # per batch of 4
    again = sampler.images_and_labels(10, seed=3, labels=drawn_for)[0]
    np.testing.assert_array_equal(images, again)  # the same draws, asked for explicitly
    np.testing.assert_array_equal(images, sampler(10, seed=3))
