"""Adding a family touches only its own file: tests/example_family.py (the worked example
of docs/architecture.md) registers a fifth family, and the CLI, training, export,
evaluation and plots take it up through the registry and the protocol alone."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
EXAMPLE = TESTS / "example_family.py"
ARCHITECTURE = TESTS.parent / "docs" / "architecture.md"

# In a process of its own: the CLI makes its `fit` and `bench` commands from the families
# registered when it is imported, so the example registers first.
SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import example_family  # registers independent-pixels
from click.testing import CliRunner
from cli.main import main
from cli.reference import DOC, render
from kgen.evaluation import load_model
from kgen.plots import supported_kinds

data_dir, work = sys.argv[2:4]
runner = CliRunner()

def run(*args):
    result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
    return {"code": result.exit_code, "output": result.output}

data = ["--dataset", "mnist", "--data-dir", data_dir, "--limit", 64]
out = {
    "help": run("fit", "independent-pixels", "--help"),
    "fit": run("fit", "independent-pixels", *data, "--batch-size", 32, "--epochs", 3,
               "--seed", 0, "--learning-rate", 0.2, "--logdir", work + "/run",
               "--export", work + "/export"),
    "eval": run("eval", work + "/run", "--metrics", "nll", "--split", "train", "--limit", 64,
                "--data-dir", data_dir, "--json", work + "/eval.json"),
    "sample": run("sample", work + "/export", "--num", 4, "--out", work + "/samples.png"),
    "plot": run("plot", "samples", work + "/export", "--num", 4, "--out", work + "/plot.png"),
    "traversal": run("plot", "traversal", work + "/run", "--out", work + "/traversal.png"),
}
out["kinds"] = supported_kinds(load_model(work + "/run")[0])
out["cli_md"] = render(DOC.read_text())  # docs/cli.md as `python -m cli.reference` rewrites it
with open(work + "/out.json", "w") as stream:
    json.dump(out, stream)
"""


def test_the_worked_example_in_the_docs_is_the_tested_file():
    text = ARCHITECTURE.read_text()
    blocks = re.findall(r"<!-- example_family.py -->\n```python\n(.*?)```", text, re.S)
    assert blocks == [EXAMPLE.read_text()], (
        "docs/architecture.md must show tests/example_family.py verbatim after the "
        "<!-- example_family.py --> marker"
    )


def test_a_fifth_family_trains_exports_evaluates_and_plots_from_its_own_file(
    tmp_path, tfds_data_dir, mnist_small
):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(TESTS), str(tfds_data_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KGEN_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["help"]["code"] == 0 and "--learning-rate" in out["help"]["output"]
    assert "--batch-size" in out["help"]["output"]  # the shared training options too
    for step in ("fit", "eval", "sample", "plot"):
        assert out[step]["code"] == 0, (step, out[step]["output"])
    assert (tmp_path / "export" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "plot.png").is_file()
    # It learned: the likelihood beats the uniform model's 784 log 2 = 543.4 nats.
    nats = json.loads((tmp_path / "eval.json").read_text())["metrics"]["nll"]["nats"]
    assert nats < 400, nats
    # Regenerating docs/cli.md gives the family its section, its option in its table.
    section = out["cli_md"].split("## `kgen bench independent-pixels`")[1].split("\n## ")[0]
    assert "`--learning-rate FLOAT RANGE` | `0.05` | Adam learning rate" in section, section
    # Plot kinds follow from the protocol: it samples, but has no latent space.
    assert out["kinds"] == ["samples"]
    assert out["traversal"]["code"] != 0 and "no latent space" in out["traversal"]["output"]
