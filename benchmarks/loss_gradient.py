"""Milliseconds for one loss-and-gradient of an objective family's model (VAE, PixelCNN),
compiled by the backend alone: no optimizer, no `fit`, none of kgen's step around it. It
tells whether a speed gap between backends is in the compiled model or in the step.

    KERAS_BACKEND=jax python benchmarks/loss_gradient.py pixelcnn
    KERAS_BACKEND=tensorflow python benchmarks/loss_gradient.py pixelcnn [--no-xla]
"""

import argparse
import time

import keras
import numpy as np

from kgen.data.synthetic import synthetic_info
from kgen.models import get_family


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=["vae", "pixelcnn"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-xla", action="store_true", help="TensorFlow without XLA")
    args = parser.parse_args()
    family = get_family(args.family)
    keras.utils.set_random_seed(0)
    info = synthetic_info(family.default_dataset)
    model = family.build(family.config_class(), info, seed=1)
    images = np.random.default_rng(0).random((args.batch_size, *info.image_shape), "float32")
    step = _loss_and_gradient(model, images, xla=not args.no_xla)
    step()
    step()
    start = time.perf_counter()
    for _ in range(args.repeats):
        step()
    milliseconds = (time.perf_counter() - start) / args.repeats * 1000
    print(f"{keras.backend.backend()} {args.family}: {milliseconds:.0f} ms per loss and gradient")


def _loss_and_gradient(model, images, xla):
    def loss():
        return keras.ops.mean(model.per_example_terms({"image": images}, training=True)["loss"])

    if keras.backend.backend() == "jax":
        import jax

        variables = model.trainable_variables + model.non_trainable_variables
        trainable = len(model.trainable_variables)

        def stateless(trained, others):
            pairs = list(zip(variables, [*trained, *others]))
            with keras.StatelessScope(state_mapping=pairs):
                return loss()

        compiled = jax.jit(jax.value_and_grad(stateless))
        values = [v.value for v in variables]
        return lambda: jax.block_until_ready(compiled(values[:trainable], values[trainable:]))
    import tensorflow as tf

    @tf.function(jit_compile=xla)
    def compiled():
        with tf.GradientTape() as tape:
            value = loss()
        return value, tape.gradient(value, model.trainable_variables)

    return lambda: [t.numpy() for t in tf.nest.flatten(compiled())]


if __name__ == "__main__":
    main()
