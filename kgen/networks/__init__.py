"""Network builders (functional Keras), kept apart from the training objectives."""

from kgen.networks.common import downsampling_steps
from kgen.networks.gan_networks import build_discriminator
from kgen.networks.gan_networks import build_generator
from kgen.networks.gated_pixelcnn_network import GatedPixelCNNNetwork
from kgen.networks.pixelcnn_network import PixelCNNNetwork
from kgen.networks.vae_networks import build_vae_decoder
from kgen.networks.vae_networks import build_vae_encoder
