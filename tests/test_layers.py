"""What the import contracts (pyproject.toml, checked by `lint-imports`) cannot see: a
package's __init__ runs whenever one of its modules is imported, so loading a trained
model must not reach the fit driver, TensorBoard or the plots that way either."""

import subprocess
import sys

PROBE = """
import sys
import kgen.evaluation.loading
import kgen.export
import kgen.training.build
loaded = [name for name in sys.modules if name.startswith(("kgen.plots", "kgen.training.driver",
          "kgen.training.tensorboard", "kgen.workflows", "cli", "tensorboard.plugins"))]
print(",".join(sorted(loaded)))
"""


def test_loading_a_model_imports_neither_the_driver_nor_tensorboard_nor_the_plots():
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", result.stdout
