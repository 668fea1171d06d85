"""PixelCNN: an exact likelihood p(x) = prod_i p(x_i | x_<i) and sampling pixel by pixel.

The network's masks make the output at each pixel a distribution over that pixel given the
pixels before it, so one forward pass scores an image exactly. Sampling has to go pixel by
pixel; `sample` runs that loop in-graph and evaluates the network only at the pixel being
drawn (see `kgen.networks.row_buffers`); `sample_naive` keeps the textbook reference, one
full forward pass per pixel from Python. Both read the same noise, so for the same seed
they draw the same images.
"""

import keras
import numpy as np
from keras import ops

from kgen.distributions import bits_per_dim
from kgen.distributions import get_likelihood
from kgen.models.base import GenerativeModel
from kgen.models.kgen_model import Endpoint
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.training_steps import objective_test_step
from kgen.models.training_steps import objective_train_step
from kgen.random import resolve_seed
from kgen.random import sub_seed


@keras.saving.register_keras_serializable(package="kgen")
class PixelCNN(GenerativeModel):
    """An autoregressive image model around a PixelCNN network.

    Args:
        network: a `kgen.networks.AutoregressiveNetwork` (`PixelCNNNetwork` or
            `GatedPixelCNNNetwork`) whose outputs match the likelihood.
        likelihood: "bernoulli" (binary pixels; grey images are binarized by sampling) or
            "categorical" (a 256-way softmax per colour for 8-bit images).
        num_classes: number of labels when the network is class-conditional, or None.
        seed: int or None, seeds the model's random generators.
    """

    # The pixel loop is thousands of tiny ops; XLA fuses them (`kgen bench pixelcnn` with
    # and without --jit-compile off: 0.109 s against 1.15 s for 16 images on a 2-core CPU).
    sample_jit_compile = True
    # A server's natural request (an image per seed, each reproducible alone): PixelCNN has
    # no latent code to decode, so the batched seeds sampler is its default.
    serving_default = "sample_seeds"
    sublayer_arguments = ("network",)

    def __init__(self, network, likelihood="bernoulli", num_classes=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        # === Config ===
        self.likelihood_name = likelihood
        self.likelihood = get_likelihood(likelihood)
        if network.params_per_channel != self.likelihood.params_per_channel:
            raise ValueError(
                f"The network gives {network.params_per_channel} parameters per colour but the "
                f"{likelihood!r} likelihood needs {self.likelihood.params_per_channel}."
            )
        self.num_classes = num_classes
        self.seed = seed
        self.image_shape = network.image_shape
        # === Layers ===
        self.network = network
        self.binarize_seed_generator = keras.random.SeedGenerator(
            sub_seed(seed, 0), name="binarize_seed"
        )
        self.sample_seed_generator = keras.random.SeedGenerator(
            sub_seed(seed, 1), name="sample_seed"
        )
        # === Metrics ===
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.bits_per_dim_tracker = keras.metrics.Mean(name="bits_per_dim")
        self.built = True  # the network arrives built

    @property
    def metrics(self):
        return [self.loss_tracker, self.bits_per_dim_tracker]

    def call(self, inputs, labels=None, training=False):
        """Per-pixel distribution parameters for a batch (images in [0, 1], or a batch dict)."""
        images, batch_labels = self.unpack(inputs)
        return self._params(
            self._targets(images), batch_labels if labels is None else labels, training
        )

    # --- Objective ---

    def per_example_terms(self, data, training=False):
        """-log p(x) in nats per image, and in bits per dimension."""
        images, labels = self.unpack(data)
        nll = -self._log_prob(self._targets(images), labels, training)
        return {"loss": nll, "bits_per_dim": bits_per_dim(nll, self.image_shape)}

    def train_step(self, *args):  # (data) on TensorFlow, (state, data) on JAX
        return backend_train_step(self, objective_train_step, *args)

    def test_step(self, *args):
        return backend_test_step(self, objective_test_step, *args)

    def log_likelihood(self, images, labels=None):
        """Exact per-image log p(x) in nats: one forward pass, summed over pixels.

        With the Bernoulli likelihood, grey images are first binarized by sampling (binary
        images such as binarized MNIST are scored as they are)."""
        return self._log_prob(self._targets(images), labels)

    def _targets(self, images):
        return self.likelihood.targets(images, self.binarize_seed_generator)

    def _params(self, targets, labels, training=False):
        return self.network(targets, labels=self.checked_labels(labels), training=training)

    def _log_prob(self, targets, labels, training=False):
        return self.likelihood.log_prob(targets, self._params(targets, labels, training))

    # --- Sampling ---

    def sampling_noise(self, num, seed=None, labels=None):
        """The one random draw of a sample: uniform noise [N, H, W, C], one value per pixel
        and colour (N is the number of labels when conditional). A sampler turns it into
        pixels by inverse CDF, so equal noise gives equal images on either path.

        XLA draws another stream than plain TensorFlow for the same seed, so a seed's
        images depend on whether the sampler was compiled; pass the noise in to compare."""
        num = self.sample_count(num, labels)
        return keras.random.uniform(
            (num,) + self.image_shape, seed=resolve_seed(seed, self.sample_seed_generator)
        )

    def _draw_pixel(self, params_for_colour, uniform):
        """Draw a whole pixel colour by colour; `params_for_colour(pixel, c)` gives the
        parameters [N, params] for colour c once the colours before c are in `pixel`."""
        channels = self.image_shape[-1]
        pixel = ops.zeros_like(uniform)
        for colour in range(channels):
            drawn = self.likelihood.draw(params_for_colour(pixel, colour), uniform)
            pixel = ops.where(ops.arange(channels) == colour, drawn, pixel)
        return pixel

    def sample(self, num, seed=None, labels=None):
        """`num` images in [0, 1] drawn pixel by pixel in one graph loop (fast path)."""
        return self.sample_from_noise(self.sampling_noise(num, seed, labels), labels)

    def sample_seeds(self, seeds, labels=None):
        """One image per seed (and label), drawn in one batch: each row's noise comes from its
        own seed, exactly as `sample(1, seed=seed)` draws it, then the batch is sampled at once.

        The base class draws rows one at a time so that continuous outputs keep every bit
        whatever the batch; for PixelCNN that costs the batch's parallelism (64 images took
        30 times as long as one batched call), and its pixels are discrete: a batch can only
        change a pixel whose probability lies within float rounding of its uniform draw. So
        here image i is a function of seeds[i] (and labels[i]) alone, equal to the image
        drawn alone in all but such ties.
        """

        def draw_noise(unused, seed):
            return unused, self.sampling_noise(1, seed=seed)[0]

        seeds = ops.convert_to_tensor(seeds, "int64")
        _, noise = ops.scan(draw_noise, ops.zeros(self.image_shape), seeds)
        return self.sample_from_noise(noise, labels)

    def sample_from_noise(self, noise, labels=None):
        """The fast sampler on given `noise` (see `sampling_noise`).

        The network runs only at the pixel being drawn, reading row buffers of its layers'
        inputs (the gated variant computes its vertical stack once per row), so a pixel
        costs one position of every layer instead of a full forward pass.
        """
        labels = self.checked_labels(labels)
        num = ops.shape(noise)[0]
        height, width, channels = self.image_shape
        network = self.network

        def draw_row(row, carry):
            state, images = carry
            state = network.begin_row(state, labels)

            def draw_column(col, state):
                uniform = ops.reshape(
                    ops.slice(noise, [0, row, col, 0], [num, 1, 1, channels]), (num, channels)
                )

                def params_for_colour(pixel, colour):
                    nonlocal state
                    if colour > 0:  # feed the colours drawn so far back in
                        state = network.write_pixel(state, col, pixel)
                    state, params = network.params_at(state, col, labels)
                    return params

                pixel = self._draw_pixel(params_for_colour, uniform)
                return network.write_pixel(state, col, pixel)

            state = ops.fori_loop(0, width, draw_column, state)
            # The network's input buffer now holds the whole row: copy it out once per row.
            images = ops.slice_update(images, [0, row, 0, 0], network.drawn_row(state))
            return state, images

        def draw_images():
            images = ops.zeros((num, height, width, channels))
            _, images = ops.fori_loop(0, height, draw_row, (network.sampling_state(num), images))
            return self.likelihood.to_images(images)

        def no_images():
            return ops.zeros((0, height, width, channels))

        # No network call on an empty batch: oneDNN's CPU kernels (TensorFlow's default on
        # x86 with AVX-512) give some zero-row outputs the wrong shape, and the row buffers'
        # slices then fail. An empty `sample_seeds` request must still answer.
        if isinstance(num, int):
            return draw_images() if num else no_images()
        return ops.cond(num > 0, draw_images, no_images)

    def sample_naive(self, num, seed=None, labels=None):
        """The reference sampler: a full forward pass per pixel and colour, from Python.

        Draws the same images as `sample` for the same seed; kept to check it and to
        measure how much faster it is (`kgen bench pixelcnn`)."""
        return self.sample_naive_from_noise(self.sampling_noise(num, seed, labels), labels)

    def sample_naive_from_noise(self, noise, labels=None):
        """The reference sampler on given `noise` (see `sampling_noise`)."""
        labels = self.checked_labels(labels)
        noise = ops.convert_to_numpy(noise)
        height, width, _ = self.image_shape
        images = np.zeros(noise.shape, dtype="float32")
        for row in range(height):
            for col in range(width):

                def params_for_colour(pixel, colour, row=row, col=col):
                    images[:, row, col] = ops.convert_to_numpy(pixel)
                    return self.network(images, labels=labels)[:, row, col]

                images[:, row, col] = ops.convert_to_numpy(
                    self._draw_pixel(params_for_colour, noise[:, row, col])
                )
        return self.likelihood.to_images(ops.convert_to_tensor(images))

    # --- Protocol ---

    def export_endpoints(self):
        inputs = {"images": ((None,) + self.image_shape, "float32")}
        if self.num_classes:
            inputs["labels"] = ((None,), "int32")

        def log_prob(images, labels=None):
            return {"log_prob": self.log_likelihood(images, labels)}

        return {**super().export_endpoints(), "log_prob": Endpoint(log_prob, inputs)}

    def benchmark_samplers(self):
        return {
            "sample_naive": lambda num: self.sample_naive(
                num, seed=0, labels=self.summary_labels(num)
            )
        }

    def reference_model(self):
        from kgen.models.reference_steps import ReferencePixelCNN  # TensorFlow's: imported on use

        return ReferencePixelCNN(self)

    def get_config(self):
        return self.config_with(
            likelihood=self.likelihood_name, num_classes=self.num_classes, seed=self.seed
        )
