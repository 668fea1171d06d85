"""The GAN's modern options: hinge loss, spectral norm, R1 (lazy too), DiffAugment, TTUR."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import assert_one_step_same_on_two_replicas
from helpers import build_small_adversarial

from kgen.errors import ConfigError
from kgen.layers.augmentation import augment
from kgen.layers.augmentation import draw_augmentation
from kgen.layers.augmentation import parse_policy
from kgen.models import get_family
from kgen.models.gan import generator_loss
from kgen.models.gan import hinge_discriminator_loss

# Every option at once; the replica test adds the conditional model and lazy R1's schedule.
MODERN = dict(
    loss="hinge",
    spectral_norm=True,
    augment="color,translation,cutout",
    r1_weight=1.0,
    d_learning_rate=4e-4,
    g_learning_rate=1e-4,
    mapping_layers=1,
    mapping_units=16,
    d_hidden_units=16,
)


def _build(name="gan", seed=1, **overrides):
    return build_small_adversarial(name, seed, **overrides)


def _batch(num=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((num, 28, 28, 1)).astype("float32")
    return images, rng.integers(0, 10, size=num).astype("int32")


def _dataset(images, labels):
    return tf.data.Dataset.from_tensor_slices({"image": images, "label": labels}).batch(len(images))


# --- Hinge loss ---


def test_hinge_losses_match_their_formulas():
    real, fake = np.array([2.0, 0.3, -1.5]), np.array([-3.0, 0.5, 1.0])
    expected = np.maximum(0, 1 - real) + np.maximum(0, 1 + fake)
    np.testing.assert_allclose(hinge_discriminator_loss(real, fake), expected, rtol=1e-6)
    np.testing.assert_allclose(generator_loss(fake, "hinge"), -fake, rtol=1e-6)


def test_hinge_terms_log_raw_scores_and_refuse_label_smoothing():
    model = _build(loss="hinge")
    scores = {"real": tf.constant([2.0, 0.5]), "fake": tf.constant([-0.5, 1.5])}
    model.real_and_fake_scores = lambda real, fake, labels, training: (
        scores["real"],
        scores["fake"],
    )
    terms = model.discriminator_terms(tf.zeros((2, 28, 28, 1)), None, tf.zeros((2, 8)))
    np.testing.assert_allclose(terms["d_loss"], [0 + 0.5, 0.5 + 2.5], rtol=1e-6)
    np.testing.assert_allclose(terms["d_real"], scores["real"])
    np.testing.assert_allclose(terms["d_fake"], scores["fake"])
    with pytest.raises(ConfigError, match="--label-smoothing 0.1"):
        get_family("gan").config_class(loss="hinge", label_smoothing=0.1)


# --- Spectral norm ---


def _largest_singular_value(kernel):
    kernel = np.asarray(kernel)
    return np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("name", ["gan", "wgan-gp"])
def test_spectral_norm_brings_each_layers_largest_singular_value_to_one(name):
    model = _build(name, spectral_norm=True)
    wrapped = [
        layer
        for layer in model.discriminator.layers
        if isinstance(layer, keras.layers.SpectralNormalization)
    ]
    assert len(wrapped) == 3  # two convolutions and the score
    # Spectral norm stands in for batch and layer norm: no layer mixes or rescales examples.
    assert not any(
        isinstance(layer, (keras.layers.BatchNormalization, keras.layers.LayerNormalization))
        for layer in model.discriminator.layers
    )
    assert not model.score_separately
    for layer in wrapped:  # far from normalized to start with
        layer.kernel.assign(layer.kernel * 7.0)
    assert all(_largest_singular_value(layer.kernel) > 1.5 for layer in wrapped)
    images, _ = _batch()
    for _ in range(30):  # each training call is one power iteration, then W <- W / sigma
        model.discriminator(images * 2 - 1, training=True)
    for layer in wrapped:
        np.testing.assert_allclose(_largest_singular_value(layer.kernel), 1.0, rtol=2e-2)
    before = [layer.kernel.numpy() for layer in wrapped]
    model.discriminator(images * 2 - 1, training=False)  # inference leaves the kernels alone
    for layer, kernel in zip(wrapped, before):
        np.testing.assert_array_equal(layer.kernel.numpy(), kernel)


# --- R1 ---


def _quadratic_critic(model):
    """D(x) = 0.5 * sum(x^2): its input gradient at x is x, so ||grad||^2 = ||x||^2."""
    model.discriminate = lambda x, labels=None, training=False: (
        0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])
    )
    model.fake = lambda z, labels=None, training=False: tf.zeros((4, 28, 28, 1))


def test_r1_penalty_matches_a_hand_computation():
    model = _build(r1_weight=3.0)
    _quadratic_critic(model)
    real = _batch(num=4)[0] * 2 - 1
    terms = model.discriminator_terms(tf.constant(real), None, tf.zeros((4, 8)), training=True)
    squared_norms = (real.reshape(4, -1).astype("float64") ** 2).sum(axis=1)
    np.testing.assert_allclose(terms["r1_penalty"], squared_norms, rtol=1e-5)
    scores = 0.5 * squared_norms
    logistic = np.log1p(np.exp(-scores)) + np.log(2.0)  # fake score 0: softplus(0) = log 2
    np.testing.assert_allclose(terms["d_loss"], logistic + 1.5 * squared_norms, rtol=1e-5)


def test_lazy_r1_runs_every_kth_discriminator_step_scaled_by_k():
    model = _build(r1_weight=1.0, r1_every=4)
    _quadratic_critic(model)
    real = tf.constant(_batch(num=4)[0] * 2 - 1)
    squared_norms = tf.reduce_sum(tf.square(tf.reshape(real, (4, -1))), axis=1).numpy()
    for step in range(9):
        model.d_optimizer.iterations.assign(step)
        penalty = model.discriminator_terms(real, None, tf.zeros((4, 8)), training=True)
        expected = 4 * squared_norms if step % 4 == 0 else np.zeros(4)
        np.testing.assert_allclose(penalty["r1_penalty"], expected, rtol=1e-5, err_msg=step)


def test_r1_is_logged_only_when_on_and_takes_batch_norm_out_of_the_discriminator():
    assert "r1_penalty" not in _build().metric_names
    model = _build(r1_weight=1.0)
    assert "r1_penalty" in [tracker.name for tracker in model.metrics]
    kinds = {type(layer).__name__ for layer in model.discriminator.layers}
    assert "LayerNormalization" in kinds and "BatchNormalization" not in kinds
    assert not model.score_separately


# --- DiffAugment ---


def test_policy_parsing_names_the_bad_transform():
    assert parse_policy("none") == () and parse_policy("") == ()
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    with pytest.raises(ValueError, match="'rotate'"):
        parse_policy("translation,rotate")
    with pytest.raises(ConfigError, match="--augment"):
        get_family("gan").config_class(augment="flip")


def test_translation_shifts_each_image_by_its_draw_with_zero_fill():
    images = np.random.default_rng(0).uniform(-1, 1, (3, 8, 8, 2)).astype("float32")
    shift_y, shift_x = np.array([1, -2, 0]), np.array([0, 1, -1])
    out = augment(images, ("translation",), {"shift_y": shift_y, "shift_x": shift_x}).numpy()
    for n in range(3):
        expected = np.zeros_like(images[n])
        for i in range(8):
            for j in range(8):
                a, b = i - shift_y[n], j - shift_x[n]
                if 0 <= a < 8 and 0 <= b < 8:
                    expected[i, j] = images[n, a, b]
        np.testing.assert_allclose(out[n], expected, rtol=1e-6, err_msg=n)


def test_cutout_zeroes_a_square_of_half_the_side():
    images = np.ones((2, 8, 8, 1), "float32")
    out = augment(images, ("cutout",), {"cutout_y": np.array([4, 0]), "cutout_x": np.array([2, 8])})
    out = out.numpy()[..., 0]
    expected = np.ones((2, 8, 8))
    expected[0, 2:6, 0:4] = 0  # rows 4 - 2 .. 4 + 1, columns 2 - 2 .. 2 + 1
    expected[1, 0:2, 6:8] = 0  # clipped at the top and right edges
    np.testing.assert_array_equal(out, expected)


def test_color_matches_its_formula():
    images = np.random.default_rng(1).uniform(-1, 1, (2, 4, 4, 3)).astype("float32")
    draws = {
        "brightness": np.array([0.2, 0.9]),
        "saturation": np.array([0.25, 0.75]),
        "contrast": np.array([0.0, 1.0]),
    }
    out = augment(images, ("color",), draws).numpy()
    x = images + (draws["brightness"] - 0.5)[:, None, None, None]
    mean = x.mean(axis=-1, keepdims=True)
    x = (x - mean) * (2 * draws["saturation"])[:, None, None, None] + mean
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    x = (x - mean) * (draws["contrast"] + 0.5)[:, None, None, None] + mean
    np.testing.assert_allclose(out, x, rtol=1e-5, atol=1e-6)


def test_draws_cover_their_ranges_and_the_augmentation_is_differentiable():
    policy = ("color", "translation", "cutout")
    draws = draw_augmentation(policy, 2000, (28, 28, 1), keras.random.SeedGenerator(3))
    assert set(np.unique(draws["shift_y"])) == set(range(-4, 5))  # 28 / 8, rounded: 4
    assert set(np.unique(draws["cutout_x"])) == set(range(0, 29))  # size 14, even: 0..28
    assert 0 <= np.min(draws["brightness"]) and np.max(draws["brightness"]) < 1
    images = tf.constant(np.random.default_rng(2).uniform(-1, 1, (4, 28, 28, 1)), "float32")
    draws = draw_augmentation(policy, 4, (28, 28, 1), keras.random.SeedGenerator(4))

    def gradient_of_sum(policy):
        with tf.GradientTape() as tape:
            tape.watch(images)
            total = tf.reduce_sum(augment(images, policy, draws))
        return tape.gradient(total, images).numpy()

    # Shifting and cutting move or drop pixels: each input pixel reaches at most one
    # output pixel, so d sum / d pixel is 1 where it survives and 0 where it does not.
    moved = gradient_of_sum(("translation", "cutout"))
    survivors = augment(tf.ones_like(images), ("translation", "cutout"), draws).numpy()
    assert set(np.unique(moved)) <= {0.0, 1.0}
    np.testing.assert_array_equal(moved.sum(axis=(1, 2, 3)), survivors.sum(axis=(1, 2, 3)))
    everything = gradient_of_sum(policy)
    assert np.isfinite(everything).all() and (everything != 0).any()


def test_real_and_fake_images_share_each_draw_within_a_step():
    model = _build(augment="color,translation,cutout")
    assert model.augment_policy == ("color", "translation", "cutout")
    seen = []
    model.discriminate = lambda x, labels=None, training=False: (
        seen.append(np.asarray(x)) or tf.zeros((x.shape[0],))
    )
    images = tf.constant(_batch(num=6)[0] * 2 - 1)
    model.real_and_fake_scores(images, images, training=True)
    both = np.concatenate(seen)  # two calls: this D has batch norm
    np.testing.assert_array_equal(both[:6], both[6:])  # same image, same draw, same result
    assert not np.allclose(both[:6], images.numpy())  # and it was augmented
    seen.clear()
    model.real_and_fake_scores(images, images, training=False)
    np.testing.assert_array_equal(seen[0], images.numpy())  # not outside training


def test_sampling_validation_and_the_export_never_augment(tmp_path):
    from kgen.export import export_saved_model

    model = _build(**MODERN)

    def refuse(num):
        raise AssertionError("augmented outside training")

    model.draw_augmentation = refuse
    images, labels = _batch()
    model.evaluate(_dataset(images, labels), verbose=0)
    model.sample(4, seed=1)
    model(images)
    export_saved_model(model, str(tmp_path / "export"))


# --- Training with every option ---


def test_separate_learning_rates_reach_each_optimizer():
    model = _build(d_learning_rate=4e-4, g_learning_rate=1e-4)
    assert np.isclose(float(model.d_optimizer.learning_rate), 4e-4)
    assert np.isclose(float(model.g_optimizer.learning_rate), 1e-4)
    default = _build("wgan-gp", g_learning_rate=3e-5)
    assert np.isclose(float(default.d_optimizer.learning_rate), 1e-4)  # --learning-rate
    assert np.isclose(float(default.g_optimizer.learning_rate), 3e-5)


def _one_step_modern(conditional=True):
    model = _build(**{**MODERN, "r1_every": 2}, d_steps=2, conditional=conditional)
    # Plain SGD, as in test_gan's replica test: Adam would blow float noise up to full steps.
    model.compile(d_optimizer=keras.optimizers.SGD(0.05), g_optimizer=keras.optimizers.SGD(0.05))
    return model


def test_one_full_step_with_every_option_same_weights_on_one_and_two_replicas(
    two_replica_strategy,
):
    def pin(model):
        # Replicas draw their own z and augmentation; pin both, as z and alpha are elsewhere.
        model.draw_latent = lambda num, seed=None: tf.zeros((num, 8))
        fixed = draw_augmentation(
            model.augment_policy, 16, model.image_shape, keras.random.SeedGenerator(7)
        )

        def pinned(num):  # example i of the global batch gets draw i, on any replica
            start = tf.distribute.get_replica_context().replica_id_in_sync_group * num
            return {name: values[start : start + num] for name, values in fixed.items()}

        model.draw_augmentation = pinned

    images, labels = _batch(num=16)
    assert_one_step_same_on_two_replicas(
        two_replica_strategy, _one_step_modern, images, labels, pin, rtol=2e-4, atol=2e-6
    )


# --- Checkpoints and archives with spectral norm ---


def _weights_by_path(model):
    from kgen.training.variable_paths import variables_by_path

    return {path: variable.numpy() for path, variable in variables_by_path(model).items()}


def test_a_checkpoint_restores_spectral_norm_vectors_and_the_augmentation_stream(tmp_path):
    from kgen.training.checkpoints import TrainingState

    images, labels = _batch(num=16)
    model = _build(**MODERN, r1_every=2)
    model.fit(_dataset(images, labels), epochs=2, verbose=0)
    state = TrainingState(model, str(tmp_path))
    state.step.assign(2)
    state.save()
    restored = _build(**MODERN, r1_every=2, seed=5)
    assert TrainingState(restored, str(tmp_path)).restore() == 2
    saved, loaded = _weights_by_path(model), _weights_by_path(restored)
    assert any("vector_u" in path for path in saved)
    assert "augment_seed_generator/state" in saved
    assert sorted(saved) == sorted(loaded)
    for path, value in saved.items():
        np.testing.assert_array_equal(value, loaded[path], err_msg=path)
    # Resumed, the next step (an R1 step: d iterations 2) is the uninterrupted run's.
    for m in (model, restored):
        m.fit(_dataset(images, labels), epochs=1, verbose=0)
    after, resumed = _weights_by_path(model), _weights_by_path(restored)
    for path, value in after.items():
        np.testing.assert_array_equal(value, resumed[path], err_msg=path)


def test_a_keras_archive_round_trip_keeps_spectral_norm_and_every_setting(tmp_path):
    images, labels = _batch(num=16)
    model = _build(**MODERN, r1_every=3, conditional=True)
    model.fit(_dataset(images, labels), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    settings = lambda m: {
        k: v for k, v in m.get_config().items() if k not in ("generator", "discriminator")
    }
    assert settings(loaded) == settings(model)
    assert settings(model)["augment"] == "color,translation,cutout"
    assert loaded.metric_names == model.metric_names
    saved, restored = _weights_by_path(model), _weights_by_path(loaded)
    for path, value in saved.items():
        if not path.endswith("seed_generator/state"):  # an archive keeps no random state
            np.testing.assert_array_equal(value, restored[path], err_msg=path)
    real = images * 2 - 1
    np.testing.assert_allclose(
        loaded.discriminate(real, labels), model.discriminate(real, labels), rtol=1e-6
    )
    z = model.draw_latent(3, seed=1)
    np.testing.assert_allclose(loaded.generate(z, labels[:3]), model.generate(z, labels[:3]))
