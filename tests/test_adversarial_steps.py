"""The adversarial train step under the running Keras backend (marked `backends`: it runs on
TensorFlow here and on JAX in tests/test_backends.py): both optimizers, `d_steps`, the
EMA's warm-up, weight clipping, the gradient penalty, the lazy R1 penalty's branch, a
non-finite step, and the same losses from the same seed."""

import math

import keras
import numpy as np
import pytest
from helpers import build_small_adversarial
from keras import ops

pytestmark = pytest.mark.backends

_build = build_small_adversarial


def _data(num=16, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "image": rng.random((num, 28, 28, 1)).astype("float32"),
        "label": rng.integers(0, 10, size=num).astype("int32"),
    }


def _numpy(variables):
    return [ops.convert_to_numpy(v) for v in variables]


def _seed_states(model):
    return {
        v.path: ops.convert_to_numpy(v).tolist()
        for v in model.non_trainable_variables
        if v.path.endswith("seed_generator_state")
    }


def test_gradient_penalty_matches_a_hand_computation():
    # Critic D(x) = 0.5 * sum(x^2): its input gradient at x_hat is x_hat itself.
    model = _build("wgan-gp")
    real = _data(num=4)["image"] * 2 - 1
    fake = np.zeros_like(real)
    alpha = np.array([0.1, 0.4, 0.7, 1.0], "float32")
    model.discriminate = lambda x, labels=None, training=False: (
        0.5 * ops.sum(ops.square(x), axis=[1, 2, 3])
    )
    model.fake = lambda z, labels=None, training=False: ops.convert_to_tensor(fake)
    model.draw_alpha = lambda num: ops.convert_to_tensor(alpha)
    terms = model.discriminator_terms(ops.convert_to_tensor(real), None, ops.zeros((4, 8)))
    x_hat = alpha[:, None, None, None] * real
    norms = np.sqrt((x_hat.reshape(4, -1) ** 2).sum(axis=1))
    np.testing.assert_allclose(terms["gradient_penalty"], (norms - 1) ** 2, rtol=1e-5)
    scores_real = 0.5 * (real.reshape(4, -1) ** 2).sum(axis=1)
    np.testing.assert_allclose(terms["d_loss"], 0 - scores_real + 10 * (norms - 1) ** 2, rtol=1e-5)
    np.testing.assert_allclose(terms["wasserstein"], scores_real, rtol=1e-6)


def _fit(name, epochs, **settings):
    model = _build(name, **settings)
    seeds = _seed_states(model)
    history = model.fit(_data(16), batch_size=16, epochs=epochs, shuffle=False, verbose=0)
    assert all(np.isfinite(values).all() for values in history.history.values()), history
    assert _seed_states(model) != seeds  # every step drew fresh noise
    return model, history.history


def _assert_optimizers_stepped(model, generator_steps):
    assert int(ops.convert_to_numpy(model.g_optimizer.iterations)) == generator_steps
    d_iterations = int(ops.convert_to_numpy(model.d_optimizer.iterations))
    assert d_iterations == model.d_steps * generator_steps
    # Adam's moments of both networks' kernels moved (on JAX: carried through the trainer's
    # state). Not every bias: WGAN's critic loss D(fake) - D(real) cancels the last one's.
    for optimizer in (model.d_optimizer, model.g_optimizer):
        moments = [v for v in optimizer.variables if "kernel_momentum" in v.path]
        assert moments and all(np.abs(m).max() > 0 for m in _numpy(moments))


def test_gan_steps_with_lazy_r1_and_augmentation_repeat_from_the_same_seed():
    # Augmentation draws inside the R1 penalty's input gradient, and inside the branch that
    # computes it every second discriminator step.
    settings = dict(r1_weight=1.0, r1_every=2, augment="color,translation")
    model, history = _fit("gan", epochs=2, **settings)
    _assert_optimizers_stepped(model, generator_steps=2)
    # One discriminator step an epoch, at iterations 0 and 1: due at 0 only (scaled by 2).
    penalties = history["r1_penalty"]
    assert penalties[0] > 0 and penalties[1] == 0, penalties
    _, again = _fit("gan", epochs=2, **settings)
    assert again == history


def test_wgan_gp_takes_d_steps_critic_steps_per_generator_step():
    model, history = _fit("wgan-gp", epochs=2, d_steps=2)
    _assert_optimizers_stepped(model, generator_steps=2)
    assert all(penalty > 0 for penalty in history["gradient_penalty"])


def test_weight_clipping_bounds_every_critic_weight():
    model = _build("wgan-gp", lipschitz="clip", clip_value=0.01, d_steps=1)
    model.fit(_data(), batch_size=16, epochs=1, verbose=0)
    weights = _numpy(model.discriminator.trainable_variables)
    assert max(np.abs(w).max() for w in weights) <= 0.01 + 1e-7


def test_ema_warms_up_on_the_generator_optimizer_step():
    model = _build("gan", ema_decay=0.9)
    expected = _numpy(model.ema_generator.weights)
    for t in range(3):
        model.fit(_data(), batch_size=16, epochs=1, verbose=0)
        assert int(ops.convert_to_numpy(model.g_optimizer.iterations)) == t + 1
        decay = min(0.9, (1 + t) / (10 + t))  # 0.1, 0.18, 0.25: the init fades at once
        expected = [
            decay * old + (1 - decay) * new
            for old, new in zip(expected, _numpy(model.generator.weights))
        ]
    for ema, want in zip(_numpy(model.ema_generator.weights), expected):
        np.testing.assert_allclose(ema, want, rtol=1e-5, atol=1e-6)


def test_a_step_with_nonfinite_gradients_is_not_applied():
    model = _build("wgan-gp", d_steps=1)
    data = _data()
    data["image"][0, 0, 0, 0] = np.nan
    d_before = _numpy(model.discriminator.trainable_variables)
    history = model.fit(data, batch_size=16, epochs=1, verbose=0).history
    assert math.isnan(history["d_loss"][0])  # reported, so the run stops
    for before, after in zip(d_before, _numpy(model.discriminator.trainable_variables)):
        np.testing.assert_array_equal(before, after)
    assert int(ops.convert_to_numpy(keras.ops.sum(model.d_optimizer.iterations))) == 0
