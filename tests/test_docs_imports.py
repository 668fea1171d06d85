"""The Python examples of README.md and docs/ import only names that kgen has: a renamed or
moved function must take its examples with it."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
IMPORT = re.compile(r"^from (kgen[\w.]*) import ([\w, ]+?)(?:\s*#.*)?$", re.MULTILINE)


def documented_imports():
    """(page, module, name) for every `from kgen... import name` in a Python block."""
    for page in PAGES:
        for block in PYTHON_BLOCK.findall(page.read_text()):
            for module, names in IMPORT.findall(block):
                for name in names.split(","):
                    yield page.name, module, name.strip()


def test_the_pages_have_python_examples_to_check():
    assert len(list(documented_imports())) > 20


@pytest.mark.parametrize(("page", "module", "name"), sorted(set(documented_imports())))
def test_each_documented_import_exists(page, module, name):
    assert hasattr(importlib.import_module(module), name), f"{page}: from {module} import {name}"
