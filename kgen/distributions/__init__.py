"""Log-densities and divergences shared by the models, written with keras.ops only."""

from kgen.distributions.gaussian import gaussian_kl_to_standard_normal
from kgen.distributions.gaussian import gaussian_log_prob
from kgen.distributions.likelihoods import LIKELIHOODS
from kgen.distributions.likelihoods import BernoulliLikelihood
from kgen.distributions.likelihoods import CategoricalLikelihood
from kgen.distributions.likelihoods import DiscretizedLogisticLikelihood
from kgen.distributions.likelihoods import bits_per_dim
from kgen.distributions.likelihoods import get_likelihood
