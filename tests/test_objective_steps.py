"""The objective families' train and test steps under the running Keras backend: this file
is marked `backends`, so it runs on TensorFlow here and on JAX in tests/test_backends.py."""

import keras
import numpy as np
import pytest

from kgen.data import DatasetInfo
from kgen.models import get_family

pytestmark = pytest.mark.backends

INFO = DatasetInfo(
    name="synthetic", image_shape=(28, 28, 1), num_classes=10, num_examples=64, split="train"
)
PIXELCNN_INFO = DatasetInfo(
    name="synthetic", image_shape=(6, 6, 1), num_classes=10, num_examples=64, split="train"
)
SMALL = {
    "vae": (dict(latent_dim=8, base_filters=8, hidden_units=32), INFO),
    "pixelcnn": (dict(variant="gated", filters=12, num_blocks=2), PIXELCNN_INFO),
    "classifier": (dict(feature_units=16), INFO),
}


def _data(info, seed=0):
    rng = np.random.default_rng(seed)
    images = (rng.uniform(size=(32, *info.image_shape)) > 0.5).astype("float32")
    labels = rng.integers(0, 10, size=32).astype("int32")
    return {"image": images, "label": labels}


def _build(name, seed=1):
    settings, info = SMALL[name]
    keras.utils.set_random_seed(0)
    family = get_family(name)
    # On JAX the step is compiled, as Keras's JAX trainer does by default: the path that
    # trains, and quicker here than running op by op.
    jit = keras.backend.backend() == "jax"
    return family.build(family.config_class(**settings), info, seed=seed, jit_compile=jit), info


def _fit(name, seed=1):
    model, info = _build(name, seed)
    data = _data(info)
    seeds = _seed_states(model)
    history = model.fit(data, batch_size=16, epochs=3, shuffle=False, verbose=0)
    evaluated = model.evaluate(data, batch_size=16, verbose=0, return_dict=True)
    model.seeds_before_fit = seeds
    return model, history.history, evaluated


def _seed_states(model):
    return {
        v.path: keras.ops.convert_to_numpy(v).tolist()
        for v in model.non_trainable_variables
        if v.path.endswith("seed_generator_state")
    }


@pytest.mark.parametrize("name", list(SMALL))
def test_training_lowers_the_loss_and_repeats_exactly(name):
    model, history, evaluated = _fit(name)
    losses = history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    assert set(evaluated) >= {"loss"} and np.isfinite(evaluated["loss"])
    if name == "classifier":
        return  # draws no noise: no seed to follow, nothing more to repeat
    # The steps advanced the seed generators they draw from (on JAX, through the state
    # the step returns), so each step drew fresh noise.
    assert _seed_states(model) != model.seeds_before_fit
    if name != "vae":
        return  # the VAE draws what PixelCNN draws (binarization) and its own eps besides
    # The same seed and data give the same losses: every random draw is seeded, and on JAX
    # the seed generators' states go through the step as arrays.
    _, again, evaluated_again = _fit(name)
    assert again["loss"] == losses
    assert evaluated_again == evaluated


def test_a_step_with_nonfinite_gradients_is_not_applied():
    model, _ = _build("vae")
    before = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    data = _data(INFO)
    data["image"][0, 0, 0, 0] = np.nan
    logs = model.fit(data, batch_size=32, epochs=1, shuffle=False, verbose=0).history
    assert np.isnan(logs["loss"][0])
    after = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
