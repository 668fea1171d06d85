"""kgen: deep generative models of images on Keras 3 (TensorFlow backend)."""

__version__ = "0.1.0"
