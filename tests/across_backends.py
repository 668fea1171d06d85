"""The archives and the one training step that tests/test_backends.py compares across
backends: `run(folder, "write")` in the suite's TensorFlow process, `run(folder, "read")`
in its JAX process.

"write" saves a VAE's and a PixelCNN's .keras archives with the outputs they give where
they were written: the VAE's decoder and PixelCNN's exact log-likelihood, both
deterministic. "read" loads them and records the outputs they give there. Both take one
training step of the same PixelCNN (JAX's read from TensorFlow's archive) on a binary
batch, which makes the Bernoulli targets exact, so no random draw enters it.
"""

import keras
import numpy as np

from kgen.data import DatasetInfo
from kgen.models import PixelCNNConfig
from kgen.models import VAEConfig
from kgen.models import get_family

rng = np.random.default_rng(0)
z = rng.normal(size=(4, 8)).astype("float32")
binary = (rng.uniform(size=(16, 6, 6, 1)) > 0.5).astype("float32")


def record(folder, writer, vae, pixelcnn):
    np.savez(
        f"{folder}/{writer}-read-by-{keras.backend.backend()}.npz",
        decoded=keras.ops.convert_to_numpy(vae.decode(z)),
        log_p=keras.ops.convert_to_numpy(pixelcnn.log_likelihood(binary)),
    )


def write(folder):
    mnist = DatasetInfo("mnist", (28, 28, 1), 10, 64, "train")
    small = DatasetInfo("synthetic", (6, 6, 1), 10, 64, "train")
    vae_settings = VAEConfig(latent_dim=8, base_filters=8, hidden_units=32)
    vae = get_family("vae").build(vae_settings, mnist, seed=1)
    pixelcnn_settings = PixelCNNConfig(variant="gated", filters=12, num_blocks=2)
    pixelcnn = get_family("pixelcnn").build(pixelcnn_settings, small, seed=1)
    vae.save(f"{folder}/vae-{keras.backend.backend()}.keras")
    pixelcnn.save(f"{folder}/pixelcnn-{keras.backend.backend()}.keras")
    record(folder, keras.backend.backend(), vae, pixelcnn)
    return pixelcnn


def read(folder, writer):
    vae = keras.saving.load_model(f"{folder}/vae-{writer}.keras")
    pixelcnn = keras.saving.load_model(f"{folder}/pixelcnn-{writer}.keras")
    record(folder, writer, vae, pixelcnn)
    return pixelcnn


def one_step(folder, pixelcnn):
    history = pixelcnn.fit({"image": binary}, batch_size=16, epochs=1, shuffle=False, verbose=0)
    weights = [keras.ops.convert_to_numpy(v) for v in pixelcnn.trainable_variables]
    np.savez(
        f"{folder}/step-{keras.backend.backend()}.npz", *weights, loss=history.history["loss"][0]
    )


def run(folder, phase):
    """ "write" (on TensorFlow) or "read" (on JAX), each with one training step."""
    pixelcnn = write(folder) if phase == "write" else read(folder, "tensorflow")
    one_step(folder, pixelcnn)
