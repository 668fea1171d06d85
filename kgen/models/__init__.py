"""The four model families, the domain classifier, and the protocol they share; importing
registers each family."""

from kgen.models.adversarial import AdversarialModel
from kgen.models.base import GenerativeModel
from kgen.models.classifier import DomainClassifier
from kgen.models.classifier_config import ClassifierConfig
from kgen.models.gan import GAN
from kgen.models.gan_config import GANConfig
from kgen.models.gan_config import WGANGPConfig
from kgen.models.kgen_model import Endpoint
from kgen.models.kgen_model import KgenModel
from kgen.models.pixelcnn import PixelCNN
from kgen.models.pixelcnn_config import PixelCNNConfig
from kgen.models.registry import ModelFamily
from kgen.models.registry import families
from kgen.models.registry import get_family
from kgen.models.steps import backend_steps
from kgen.models.steps import backend_test_step
from kgen.models.steps import backend_train_step
from kgen.models.vae import VAE
from kgen.models.vae_config import VAEConfig
from kgen.models.wgan_gp import WGANGP
