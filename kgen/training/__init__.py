"""Training: strategies, the fit driver, checkpoints and resume, TensorBoard logging."""

from kgen.training.config import TrainConfig
from kgen.training.driver import FitResult
from kgen.training.driver import fit
from kgen.training.strategy import make_strategy
