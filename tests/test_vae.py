"""The VAE: objective, likelihood estimates, sampling, conditioning, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import binary_batch
from helpers import build_small_vae

from kgen.data import DatasetInfo
from kgen.data import training_stream
from kgen.errors import ConfigError


def test_loss_is_reconstruction_plus_beta_kl():
    model = build_small_vae(beta=0.5)
    images, _ = binary_batch()
    terms = model.per_example_terms(images)
    np.testing.assert_allclose(
        terms["loss"].numpy(), (terms["reconstruction"] + 0.5 * terms["kl"]).numpy(), rtol=1e-6
    )
    assert np.all(terms["kl"].numpy() >= 0)


def test_a_few_steps_lower_the_loss_on_mnist(mnist_small):
    dataset, info = mnist_small
    model = build_small_vae(info)
    stream = training_stream(dataset, 32, seed=0)
    before = model.evaluate(stream, steps=4, verbose=0, return_dict=True)["loss"]
    model.fit(stream, steps_per_epoch=40, epochs=1, verbose=0)
    after = model.evaluate(stream, steps=4, verbose=0, return_dict=True)["loss"]
    assert after < before - 50, (before, after)


def test_iwae_bound_is_at_least_the_elbo_and_tightens_with_k():
    model = build_small_vae()
    # An untrained encoder gives q(z|x) close to the prior, where the ELBO and the IWAE
    # bound differ by hundredths of a nat, less than the noise of either estimate. A broad
    # posterior (variance e^2) opens the gap the theorem is about to several nats.
    log_variance = model.encoder.get_layer("log_variance")
    log_variance.bias.assign(log_variance.bias + 2.0)
    images, _ = binary_batch(num=8)
    keras.utils.set_random_seed(0)
    elbo = np.mean([model.elbo(images).numpy().mean() for _ in range(20)])
    iwae_1 = np.mean(
        [model.log_likelihood(images, num_samples=1).numpy().mean() for _ in range(20)]
    )
    iwae_50 = model.log_likelihood(images, num_samples=50, chunk_size=16).numpy().mean()
    # k=1 is an unbiased single-sample ELBO; more samples can only tighten (raise) the bound.
    assert abs(iwae_1 - elbo) < 3.0
    assert iwae_50 > elbo + 1.0


def test_iwae_chunks_combine_exactly(monkeypatch):
    model = build_small_vae()
    images, _ = binary_batch(num=4)
    # With z pinned to the posterior mean every importance weight is the same, so any split
    # of k into chunks must give log (1/k) sum w = log w exactly; this checks the running
    # log-sum-exp over chunks and the final - log k.
    monkeypatch.setattr(model.sampling, "call", lambda mean, log_variance, seed=None: mean)
    one_chunk = model.log_likelihood(images, num_samples=12, chunk_size=12).numpy()
    uneven_chunks = model.log_likelihood(images, num_samples=12, chunk_size=5).numpy()
    single = model.log_likelihood(images, num_samples=1).numpy()
    np.testing.assert_allclose(one_chunk, uneven_chunks, rtol=1e-5)
    np.testing.assert_allclose(one_chunk, single, rtol=1e-5)


def test_sample_is_deterministic_in_the_seed_and_in_range():
    model = build_small_vae()
    a = model.sample(6, seed=3).numpy()
    assert a.shape == (6, 28, 28, 1) and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, model.sample(6, seed=3).numpy())
    assert not np.array_equal(a, model.sample(6, seed=4).numpy())


def test_conditional_vae_uses_the_label():
    model = build_small_vae(conditional=True)
    z = np.zeros((2, 8), "float32")
    # Perturb the decoder so the label path matters, then compare two labels for one z.
    for weight in model.decoder.weights:
        weight.assign(np.random.default_rng(0).normal(0, 0.3, weight.shape).astype("float32"))
    zero, one = model.decode(z, np.array([0, 0])).numpy(), model.decode(z, np.array([1, 1])).numpy()
    assert np.abs(zero - one).max() > 1e-3
    with pytest.raises(ValueError, match="labels"):
        model.decode(z)


def test_conditional_needs_labelled_data():
    unlabelled = DatasetInfo(
        name="folder", image_shape=(28, 28, 1), num_classes=None, num_examples=10, split="train"
    )
    with pytest.raises(ConfigError, match="labels"):
        build_small_vae(unlabelled, conditional=True)


@pytest.mark.parametrize(
    "shape,architecture", [((32, 32, 3), "conv"), ((64, 64, 3), "conv"), ((28, 28, 1), "mlp")]
)
def test_networks_cover_sizes_channels_and_architectures(shape, architecture):
    info = DatasetInfo(name="x", image_shape=shape, num_classes=None, num_examples=8, split="train")
    model = build_small_vae(info, architecture=architecture)
    expected_likelihood = "bernoulli" if shape[-1] == 1 else "logistic"
    assert model.likelihood_name == expected_likelihood
    images = np.random.default_rng(0).random((2,) + shape).astype("float32")
    assert model.reconstruct(images).shape == (2,) + shape
    assert np.all(np.isfinite(model.per_example_terms(images)["loss"].numpy()))


def test_unsupported_image_size_is_a_clear_error():
    info = DatasetInfo(
        name="x", image_shape=(30, 30, 1), num_classes=None, num_examples=8, split="train"
    )
    with pytest.raises(ConfigError, match="30"):
        build_small_vae(info)


@pytest.mark.parametrize("conditional", [False, True])
def test_keras_archive_round_trip_gives_identical_outputs(tmp_path, conditional):
    model = build_small_vae(conditional=conditional)
    images, labels = binary_batch(num=4)
    labels = labels if conditional else None
    model.fit(
        tf.data.Dataset.from_tensor_slices(
            {"image": images, "label": binary_batch(num=4)[1]}
        ).batch(4),
        epochs=1,
        verbose=0,
    )
    path = str(tmp_path / "vae.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    z = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    np.testing.assert_array_equal(model.decode(z, labels).numpy(), loaded.decode(z, labels).numpy())
    np.testing.assert_array_equal(
        model.reconstruct(images, labels).numpy(), loaded.reconstruct(images, labels).numpy()
    )
    np.testing.assert_array_equal(
        model.sample(3, seed=5, labels=None if labels is None else labels[:3]).numpy(),
        loaded.sample(3, seed=5, labels=None if labels is None else labels[:3]).numpy(),
    )
    assert loaded.get_config()["beta"] == model.beta


def test_each_random_generator_has_its_own_stream():
    model = build_small_vae(seed=5)
    states = [
        tuple(g.state.numpy())
        for g in (
            model.sampling.seed_generator,
            model.binarize_seed_generator,
            model.prior_seed_generator,
        )
    ]
    assert len(set(states)) == 3, states


def test_elbo_and_iwae_score_the_same_binarization(monkeypatch):
    model = build_small_vae()
    draws = []
    original = model.likelihood.targets

    def counting_targets(images, seed_generator=None):
        draws.append(1)
        return original(images, seed_generator)

    monkeypatch.setattr(model.likelihood, "targets", counting_targets)
    figures = model.negative_log_likelihoods(np.full((4, 28, 28, 1), 0.5, "float32"), num_samples=3)
    assert len(draws) == 1  # one binarization, scored by both figures
    assert set(figures) == {"negative_elbo", "iwae_nll"}


def test_non_square_images_are_a_clear_error():
    info = DatasetInfo(
        name="x", image_shape=(28, 32, 1), num_classes=None, num_examples=8, split="train"
    )
    with pytest.raises(ConfigError, match="square"):
        build_small_vae(info)


@pytest.mark.parametrize("likelihood", ["bernoulli", "logistic"])
def test_the_encoder_sees_the_same_kind_of_input_in_training_and_in_use(likelihood):
    model = build_small_vae(likelihood=likelihood)
    network = model.encoder
    seen = []

    def recording_encoder(inputs, training=False):
        seen.append(np.array(inputs[0] if isinstance(inputs, list) else inputs))
        return network(inputs, training=training)

    model.encoder = recording_encoder
    # Grey images: a binarization of them would differ from what `encode` is shown.
    images = np.random.default_rng(0).uniform(0.2, 0.8, size=(4, 28, 28, 1)).astype("float32")
    model.per_example_terms((images,), training=True)
    model.negative_log_likelihoods(images, num_samples=2)
    model.encode(images)
    model.reconstruct(images)
    training_input = seen[0]
    assert len(seen) == 5
    for used in seen[1:]:
        np.testing.assert_array_equal(used, training_input)
    if likelihood == "bernoulli":
        np.testing.assert_array_equal(training_input, images)  # grey, never binarized
