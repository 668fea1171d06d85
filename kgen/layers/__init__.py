"""Small, serializable building blocks, each tested on its own."""

from kgen.layers.conv2d_transpose import Conv2DTranspose
from kgen.layers.gated_pixelcnn_block import GatedPixelCNNBlock
from kgen.layers.masked_conv2d import MaskedConv2D
from kgen.layers.masked_residual_block import MaskedResidualBlock
from kgen.layers.sampling import Sampling
