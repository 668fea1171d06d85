"""Training: strategies, the fit driver, checkpoints and resume, TensorBoard logging.

`fit` (in `kgen.training.driver`) trains and nothing else; `kgen.workflows.train` is the
entry point that also exports. Importing this package loads only the settings and the
strategies, so that loading a trained model (`kgen.training.build`) pulls in neither the
driver nor TensorBoard nor the plots.
"""

from kgen.training.config import TrainConfig
from kgen.training.strategy import make_strategy
