"""GAN and WGAN-GP on TensorFlow: losses, alpha, the EMA schedule, replicas, labels, export
(the train step on both backends: tests/test_adversarial_steps.py)."""

import functools
import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_one_step_same_on_two_replicas
from helpers import build_small_adversarial
from helpers import run_with_tensorflow_only

from kgen.models.gan import discriminator_loss
from kgen.models.gan import generator_loss
from kgen.models.wgan_gp import gradient_penalty
from kgen.models.wgan_gp import interpolate

_build = build_small_adversarial


def _batch(num=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((num, 28, 28, 1)).astype("float32")
    labels = rng.integers(0, 10, size=num).astype("int32")
    return images, labels


def _dataset(images, labels):
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(len(images))


def test_losses_match_their_formulas():
    real, fake = np.array([2.0, -1.0]), np.array([0.5, 3.0])
    sigmoid = lambda s: 1 / (1 + np.exp(-s))
    expected = -np.log(sigmoid(real)) - np.log(1 - sigmoid(fake))
    np.testing.assert_allclose(discriminator_loss(real, fake), expected, rtol=1e-6)
    smoothed = -(0.9 * np.log(sigmoid(real)) + 0.1 * np.log(1 - sigmoid(real))) - np.log(
        1 - sigmoid(fake)
    )
    np.testing.assert_allclose(discriminator_loss(real, fake, 0.1), smoothed, rtol=1e-6)
    np.testing.assert_allclose(generator_loss(fake), -np.log(sigmoid(fake)), rtol=1e-6)
    np.testing.assert_allclose(
        generator_loss(fake, "minimax"), np.log(1 - sigmoid(fake)), rtol=1e-6
    )


def test_penalty_norm_is_finite_at_a_zero_gradient():
    gradients = tf.zeros((2, 3, 3, 1))
    with tf.GradientTape() as tape:
        tape.watch(gradients)
        penalty = gradient_penalty(gradients)
    np.testing.assert_allclose(penalty, [1.0, 1.0], atol=1e-5)
    assert np.isfinite(tape.gradient(penalty, gradients).numpy()).all()


def test_alpha_is_uniform_and_drawn_per_example():
    model = _build("wgan-gp")
    alpha = model.draw_alpha(20000).numpy()
    assert alpha.shape == (20000,) and alpha.min() >= 0 and alpha.max() < 1
    assert abs(alpha.mean() - 0.5) < 0.01 and abs(alpha.var() - 1 / 12) < 0.003
    real, fake = np.ones((3, 2, 2, 1), "float32"), np.zeros((3, 2, 2, 1), "float32")
    mixed = interpolate(real, fake, np.array([0.2, 0.5, 0.9], "float32")).numpy()
    np.testing.assert_allclose(mixed[:, 0, 0, 0], [0.2, 0.5, 0.9], rtol=1e-6)


def test_share_of_the_random_init_after_t_ema_updates_follows_the_warm_up():
    model = _build("gan")  # ema_decay 0.999
    share = lambda steps: math.prod(float(model.ema_decay_at(t)) for t in range(steps))
    # prod_{t<n} (1 + t) / (10 + t) = 9! n! / (n + 9)!
    assert share(5) == pytest.approx(
        math.factorial(9) * math.factorial(5) / math.factorial(14), rel=1e-4
    )
    assert share(1404) < 1e-20  # without the warm-up: 0.999 ** 1404 = 0.245
    assert float(model.ema_decay_at(20_000)) == pytest.approx(0.999)


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_the_ema_generator_is_out_of_the_trainable_weights(name):
    model = _build(name)
    assert not model.ema_generator.trainable_weights
    trained = model.generator.trainable_weights + model.discriminator.trainable_weights
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in trained}
    count = lambda weights: sum(int(np.prod(w.shape)) for w in weights)
    assert count(model.trainable_weights) == count(trained)


def test_raw_or_ema_generator_is_selectable_and_differs_after_training():
    model = _build("gan", ema_decay=0.9)
    images, labels = _batch()
    model.fit(_dataset(images, labels).repeat(2), epochs=1, verbose=0)
    z = tf.random.stateless_normal((4, 8), seed=(1, 2))
    ema = model.generate(z).numpy()
    model.select_generator("raw")
    raw = model.generate(z).numpy()
    np.testing.assert_allclose(raw, (model.generator(z, training=False).numpy() + 1) / 2, atol=1e-6)
    assert np.abs(raw - ema).max() > 1e-4
    with pytest.raises(ValueError, match="has no 'best' generator"):
        model.select_generator("best")


def test_a_nan_gradient_on_one_replica_skips_that_update_on_every_replica(two_replica_strategy):
    with two_replica_strategy.scope():
        model = _build("gan")
    original = model.discriminator_terms

    def nan_gradient_on_replica_1(real, labels, z, training=False):
        terms = original(real, labels, z, training)
        kernel = model.discriminator.trainable_variables[0]
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        poison = tf.cond(
            tf.equal(replica, 1),
            lambda: tf.sqrt(0.0 * tf.reduce_sum(kernel)),
            lambda: tf.constant(0.0),
        )
        return {**terms, "d_loss": terms["d_loss"] + poison}  # finite loss, NaN gradient

    model.discriminator_terms = nan_gradient_on_replica_1
    d_before = [w.numpy() for w in model.discriminator.trainable_weights]
    g_before = [w.numpy() for w in model.generator.trainable_weights]
    images, labels = _batch()
    history = model.fit(_dataset(images, labels), epochs=1, verbose=0)
    assert math.isnan(history.history["d_loss"][0])  # reported, so the run stops
    for before, after in zip(d_before, model.discriminator.trainable_weights):
        np.testing.assert_array_equal(before, after.numpy())  # not applied, on any replica
    assert all(np.isfinite(w.numpy()).all() for w in model.weights)
    assert any(
        np.abs(b - a.numpy()).max() > 0 for b, a in zip(g_before, model.generator.trainable_weights)
    )


def _one_step_gan(name):
    model = _build(name, d_steps=2, conditional=True)
    # Plain SGD: Adam's first step g / (|g| + eps) turns float noise in near-zero
    # gradients into full-size steps, which would hide what is compared here.
    model.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05))
    return model


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_one_full_step_same_weights_on_one_and_two_replicas(name, two_replica_strategy):
    def pin(model):
        # Replicas draw their own z and alpha; pin them so that both runs see the same inputs.
        model.draw_latent = lambda num, seed=None, generator=None: tf.zeros((num, 8))
        if name == "wgan-gp":
            model.draw_alpha = lambda num: tf.fill((num,), 0.3)

    images, labels = _batch(num=16)
    build = functools.partial(_one_step_gan, name)
    assert_one_step_same_on_two_replicas(
        two_replica_strategy, build, images, labels, pin, rtol=2e-4, atol=2e-6
    )


def test_conditional_sampling_honours_the_labels():
    model = _build("gan", conditional=True)
    z = model.draw_latent(2, seed=5)
    same = model.generate(tf.concat([z[:1], z[:1]], 0), np.array([3, 3])).numpy()
    other = model.generate(tf.concat([z[:1], z[:1]], 0), np.array([3, 8])).numpy()
    np.testing.assert_allclose(same[0], same[1], rtol=1e-6)
    assert not np.allclose(other[0], other[1])
    assert model.sample(5, seed=2, labels=np.arange(3)).shape == (3, 28, 28, 1)


def test_a_short_run_moves_the_critic_the_way_its_objective_says(mnist_small):
    dataset, _ = mnist_small
    images = np.stack([example["image"].numpy() for example in dataset.take(64)])
    labels = np.zeros(len(images), "int32")
    for name, gap in (("gan", "d_real - d_fake"), ("wgan-gp", "wasserstein")):
        # The DCGAN generator (no mapping layers): with them G catches up within these 12
        # steps, and the gap measures both players rather than the critic.
        model = _build(name, d_steps=1, mapping_layers=0)
        z = model.draw_latent(64, seed=1)

        def score_gap(model=model, z=z):
            real_scores = model.score(images * 2 - 1)
            fake_scores = model.score(model.fake(z))
            return float(tf.reduce_mean(real_scores) - tf.reduce_mean(fake_scores))

        before = score_gap()
        dataset = _dataset(images, labels).unbatch().batch(32).repeat(6)
        history = model.fit(dataset, epochs=1, verbose=0)
        after = score_gap()
        assert after > 0, gap
        assert after > before, f"{gap} did not grow: {before} -> {after}"
        assert math.isfinite(history.history["d_loss"][-1])


def test_checkpoint_restores_both_optimizers_the_ema_and_the_step(tmp_path):
    from kgen.training.checkpoints import TrainingState

    images, labels = _batch()
    model = _build("wgan-gp", d_steps=2)
    model.fit(_dataset(images, labels), epochs=1, verbose=0)
    state = TrainingState(model, str(tmp_path))
    state.step.assign(7)
    state.save()
    restored = _build("wgan-gp", d_steps=2, seed=2)
    assert TrainingState(restored, str(tmp_path)).restore() == 7
    for name in ("d_optimizer", "g_optimizer"):
        saved, loaded = getattr(model, name).variables, getattr(restored, name).variables
        assert len(saved) == len(loaded) > 2
        for a, b in zip(saved, loaded):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(model.ema_generator.weights, restored.ema_generator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_checkpoint_keys_variables_by_attribute_path_not_by_position(tmp_path):
    from kgen.training.checkpoints import TrainingState
    from kgen.training.checkpoints import stored_variables

    images, labels = _batch()
    model = _build("gan", ema_decay=0.5)
    model.fit(_dataset(images, labels).repeat(2), epochs=1, verbose=0)  # EMA != generator now
    state = TrainingState(model, str(tmp_path))
    state.step.assign(2)
    path = state.save()
    stored = stored_variables(path)
    # The generator and its EMA clone share Keras's `Variable.path`; here they do not.
    kernels = [
        name
        for name in stored
        if name.endswith("/kernel") and "generator/" in name and "optimizer" not in name
    ]
    assert {name.split("/")[0] for name in kernels} == {"generator", "ema_generator"}
    assert any(name.startswith("d_optimizer/momentum/discriminator/") for name in stored)
    assert any(name.startswith("g_optimizer/velocity/generator/") for name in stored)
    assert "latent_seed_generator/state" in stored
    # Another order of `model.variables` (here: the EMA copy listed as trainable, so first)
    # must not send values to the wrong same-shaped variable.
    restored = _build("gan", ema_decay=0.5, seed=3)
    restored.ema_generator.trainable = True
    assert TrainingState(restored, str(tmp_path)).restore() == 2
    for network in ("generator", "ema_generator", "discriminator"):
        for a, b in zip(getattr(model, network).weights, getattr(restored, network).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{network}: {a.path}")


def test_a_checkpoint_of_another_model_names_what_is_missing_or_extra(tmp_path):
    from kgen.errors import CheckpointMismatch
    from kgen.training.checkpoints import TrainingState

    TrainingState(_build("gan"), str(tmp_path)).save()
    other = _build("wgan-gp")  # layer-normalized critic: no batch-norm statistics
    with pytest.raises(CheckpointMismatch) as error:
        TrainingState(other, str(tmp_path)).restore()
    message = str(error.value)
    assert (
        "in the checkpoint but not in the model: "
        "d_optimizer/momentum/discriminator/04_batch_normalization" in message
    )
    assert (
        "missing from the checkpoint: alpha_seed_generator/state" in message
        and "--fresh" in message
    )


# Slow (68 s for the GAN): the fast suite keeps the archive's settings, weights and
# spectral-norm state (test_keras_archive_round_trip_*, test_gan_techniques) and both
# optimizers' checkpointed state (test_checkpoint_restores_both_optimizers_*).
@pytest.mark.slow
@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_a_reloaded_keras_archive_restores_both_optimizers_and_trains_on_identically(
    name, tmp_path
):
    from kgen.training.variable_paths import variables_by_path

    images, labels = _batch()
    model = _build(name, d_steps=2)
    model.fit(_dataset(images, labels), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips compile on load
        loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert (
        int(loaded.d_optimizer.iterations.numpy()) == 2
        and int(loaded.g_optimizer.iterations.numpy()) == 1
    )
    saved_state, loaded_state = variables_by_path(model), variables_by_path(loaded)
    assert sorted(saved_state) == sorted(loaded_state)
    assert any("d_optimizer/momentum" in path for path in saved_state)
    for path, variable in saved_state.items():
        if path.endswith("seed_generator/state"):  # a .keras archive keeps no random state
            loaded_state[path].assign(variable)
        np.testing.assert_array_equal(variable.numpy(), loaded_state[path].numpy(), err_msg=path)
    # One more step from each: the same state gives the same weights.
    for m in (model, loaded):
        m.fit(_dataset(images, labels), epochs=1, verbose=0)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.path)


# Generates and samples with the SavedModel alone, as a server would.
GENERATE_AND_SAMPLE = """
z = tf.constant(inputs["z"])
labels = tf.constant([1, 2, 3], tf.int32)
outputs["generated"] = loaded.signatures["serving_default"](z=z, labels=labels)["images"].numpy()
outputs["sampled"] = loaded.signatures["sample"](
    num=tf.constant(3), seed=tf.constant(4, tf.int64), labels=labels
)["images"].numpy()
"""


def test_export_serves_the_ema_generator_without_kgen(tmp_path):
    from kgen.export import export_saved_model

    model = _build("gan", conditional=True, ema_decay=0.5)
    images, labels = _batch()
    model.fit(_dataset(images, labels), epochs=1, verbose=0)  # EMA and generator now differ
    path = export_saved_model(model, str(tmp_path / "gan"))
    z = np.random.default_rng(3).normal(size=(3, 8)).astype("float32")
    out = run_with_tensorflow_only(path, GENERATE_AND_SAMPLE, z=z)
    labels = np.array([1, 2, 3], "int32")
    np.testing.assert_allclose(out["generated"], model.generate(z, labels), rtol=1e-5, atol=1e-6)
    trained = (model.fake(z, labels).numpy() + 1) / 2
    assert not np.allclose(out["generated"], trained, atol=1e-4), "export used the raw generator"
    np.testing.assert_allclose(
        out["sampled"],
        model.sample(3, seed=tf.constant(4, tf.int64), labels=labels),
        rtol=1e-5,
        atol=1e-6,
    )


def test_mixed_float16_scales_both_losses_and_keeps_the_penalty_in_float32():
    images, labels = _batch()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _build("wgan-gp", d_steps=1)
    finally:
        keras.config.set_dtype_policy(previous)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.generator.layers[1].compute_dtype == "float16"
    terms = model.discriminator_terms(tf.constant(images * 2 - 1), None, model.draw_latent(16))
    assert terms["gradient_penalty"].dtype == "float32" and terms["d_loss"].dtype == "float32"
    history = model.fit(_dataset(images, labels), epochs=1, verbose=0)
    assert all(math.isfinite(values[-1]) for values in history.history.values())
    assert all(w.dtype == "float32" for w in model.generator.trainable_weights)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("critic_scale", [1.0, 1e-6])
def test_penalty_gradient_norm_under_mixed_precision_matches_float32(policy, critic_scale):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        mixed = _build("wgan-gp")
    finally:
        keras.config.set_dtype_policy(previous)
    exact = _build("wgan-gp")
    assert mixed.discriminator.layers[1].compute_dtype != "float32"
    # A small last layer makes every gradient in the critic small: float16 flushes such
    # values to zero unless the gradient is computed in float32.
    weights = mixed.discriminator.get_weights()
    weights[-2] = weights[-2] * critic_scale
    for model in (mixed, exact):
        model.discriminator.set_weights(weights)
    real, _ = _batch(num=8)
    fake = np.random.default_rng(1).uniform(-1, 1, size=real.shape).astype("float32")
    x_hat = interpolate(real * 2 - 1, fake, np.linspace(0.1, 0.9, 8).astype("float32"))
    norm = lambda model: np.sqrt(
        np.sum(
            np.square(model.score_input_gradients(x_hat).numpy().astype("float64")).reshape(8, -1),
            axis=1,
        )
    )
    np.testing.assert_allclose(norm(mixed), norm(exact), rtol=1e-2)
    assert mixed.discriminator.layers[1].compute_dtype != "float32"  # the policy is restored


@pytest.mark.parametrize(
    "name",
    # The two families share this code (AdversarialModel); WGAN-GP's case is the slower.
    ["gan", pytest.param("wgan-gp", marks=pytest.mark.slow)],
)
def test_keras_archive_round_trip_keeps_settings_and_the_ema_generator(name, tmp_path):
    model = _build(name, conditional=True, ema_decay=0.5)
    images, labels = _batch()
    model.fit(_dataset(images, labels), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    settings = lambda m: {
        k: v for k, v in m.get_config().items() if k not in ("generator", "discriminator")
    }
    assert type(loaded) is type(model) and settings(loaded) == settings(model)
    z, labels = model.draw_latent(3, seed=1), np.array([0, 5, 9], "int32")
    np.testing.assert_allclose(loaded.generate(z, labels), model.generate(z, labels), rtol=1e-6)


@pytest.mark.slow
def test_one_epoch_mnist_gan_ema_samples_score_no_worse_than_the_raw_generator(
    classifier, tfds_data_dir, tmp_path
):
    from kgen.data import load_source
    from kgen.evaluation import ClassifierFeatures
    from kgen.evaluation import evaluate
    from kgen.models import GANConfig
    from kgen.training import TrainConfig
    from kgen.training.driver import fit

    config = TrainConfig(
        dataset="mnist",
        data_dir=str(tfds_data_dir),
        epochs=1,
        seed=0,
        eval_split="none",
        logdir=str(tmp_path / "run"),
        export=str(tmp_path / "export"),
    )
    model = fit("gan", GANConfig(), config, verbose=0).model  # 468 generator steps
    test, info = load_source("mnist", "test", data_dir=str(tfds_data_dir), limit=2000)
    extractor = ClassifierFeatures(classifier)
    fid = {}
    for version in ("raw", "ema"):
        model.select_generator(version)
        report = evaluate(
            model, test, info, metrics=["fid"], extractor=extractor, num_generated=2000
        )
        fid[version] = report["metrics"]["fid"]
    assert fid["ema"] <= 1.1 * fid["raw"], fid
