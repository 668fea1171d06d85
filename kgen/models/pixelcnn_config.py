"""Settings of the PixelCNN family, with documented defaults, and the builder the driver calls."""

import dataclasses
from typing import Literal

import keras

from kgen.distributions import get_likelihood
from kgen.errors import ConfigError
from kgen.models.config_fields import CheckedSettings
from kgen.models.config_fields import at_least
from kgen.models.config_fields import auto_likelihood
from kgen.models.config_fields import class_count
from kgen.models.config_fields import positive
from kgen.models.config_fields import setting
from kgen.models.pixelcnn import PixelCNN
from kgen.models.registry import ModelFamily
from kgen.models.registry import register_family
from kgen.networks import GatedPixelCNNNetwork
from kgen.networks import PixelCNNNetwork

NETWORKS = {"pixelcnn": PixelCNNNetwork, "gated": GatedPixelCNNNetwork}

# Hidden width by image channels: 64 as in the PixelCNN MNIST models; colour needs a
# multiple of 6 (three colours, and the residual block narrows to half).
DEFAULT_FILTERS = {1: 64, 3: 96}


@dataclasses.dataclass
class PixelCNNConfig(CheckedSettings):
    """Hyperparameters of a PixelCNN; defaults suit 28x28 binarized MNIST on a CPU."""

    variant: Literal["pixelcnn", "gated"] = setting(
        "pixelcnn",
        "pixelcnn: 7x7 type-A conv and masked residual blocks (has a blind spot); gated: "
        "vertical and horizontal gated stacks (no blind spot).",
    )
    likelihood: Literal["auto", "bernoulli", "categorical"] = setting(
        "auto",
        "p(x_i | x_<i): bernoulli (binary pixels; grey ones binarized by sampling) or "
        "categorical (256-way softmax per colour); auto picks bernoulli for 1 channel and "
        "categorical for colour.",
    )
    filters: int | None = setting(
        None,
        "Width of the hidden layers.",
        at_least(1),
        shown_default="64 for 1 channel, 96 for colour",
    )
    num_blocks: int = setting(
        7,
        "Blocks: residual blocks after the input convolution (pixelcnn), or gated blocks in "
        "all, the type-A input block included (gated).",
        at_least(1),
    )
    kernel_size: int = setting(
        3, "Odd kernel size of the blocks' masked convolutions.", at_least(1)
    )
    input_kernel_size: int = setting(7, "Odd kernel size of the first, type-A layer.", at_least(1))
    conditional: bool = setting(False, "Condition every block on the class label.")
    learning_rate: float = setting(1e-3, "Adam learning rate.", positive())


def build_pixelcnn(config, dataset_info, seed=None, jit_compile=False):
    """Network, model and optimizer for `config` on data shaped like `dataset_info`."""
    channels = dataset_info.image_shape[-1]
    if channels not in DEFAULT_FILTERS:
        raise ConfigError(
            f"PixelCNN models 1 (grey) or 3 (RGB) channels; dataset {dataset_info.name!r} has "
            f"{channels}."
        )
    filters = DEFAULT_FILTERS[channels] if config.filters is None else config.filters
    multiple = channels * (2 if config.variant == "pixelcnn" else 1)
    if filters % multiple:
        raise ConfigError(
            f"--filters {filters}: the {config.variant} variant on {channels}-channel images "
            f"needs a positive multiple of {multiple}."
        )
    for flag, size in (
        ("--kernel-size", config.kernel_size),
        ("--input-kernel-size", config.input_kernel_size),
    ):
        if size % 2 == 0:
            raise ConfigError(f"{flag} {size}: a masked kernel needs an odd size (3, 5, 7, ...).")
    likelihood = auto_likelihood(config.likelihood, channels, "categorical")
    num_classes = class_count(config.conditional, dataset_info)
    network = NETWORKS[config.variant](
        dataset_info.image_shape,
        get_likelihood(likelihood).params_per_channel,
        filters=filters,
        num_blocks=config.num_blocks,
        kernel_size=config.kernel_size,
        input_kernel_size=config.input_kernel_size,
        num_classes=num_classes,
        name=f"{config.variant}_network",
    )
    model = PixelCNN(network, likelihood=likelihood, num_classes=num_classes, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), jit_compile=jit_compile)
    return model


PIXELCNN_FAMILY = register_family(
    ModelFamily(
        name="pixelcnn",
        config_class=PixelCNNConfig,
        build=build_pixelcnn,
        default_dataset="binarized_mnist",
        summary="PixelCNN and gated PixelCNN: exact likelihood, fast in-graph sampling.",
        # About 300 images/s for the default variant on a 2-core CPU without XLA, so 3
        # epochs of binarized MNIST's 50,000 take about 9 minutes; the gated variant costs
        # about eight times the multiply-adds per pixel, about 45 images/s (docs/pixelcnn.md).
        default_epochs=3,
    )
)
