"""Small, serializable building blocks, each tested on its own."""

from kgen.layers.sampling import Sampling
