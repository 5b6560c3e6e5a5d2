"""``pip install .`` (not editable) into a fresh virtual environment, then a course notebook copied out of
the repository runs there: the photos, the trained checkpoint and the recorded runs ship in the package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

ASSETS = ROOT / "inception_lib" / "assets"
NOTEBOOK = "08_feature_maps.ipynb"  # photos, the trained checkpoint, the analysis and drawing layers
# What a reader needs beside the package to run a notebook: a kernel and a runner. Versions from requirements.txt.
RUNNER = ["ipykernel", "nbclient", "nbformat"]
CHECK_ASSETS = """
import sys
from pathlib import Path
import inception_lib
from inception_lib.assets.images import list_images, load_image
from inception_lib.assets.weights import trained_model
from inception_lib.training.metrics import recorded_run
package = Path(inception_lib.__file__).parent
assert Path(sys.prefix) in package.parents, f"imported {package}, not the installed copy"
print(package / "assets")
assert [load_image(name).size for name in list_images()] and trained_model() is not None and recorded_run()
"""
EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
print("executed", sum(c.cell_type == "code" for c in nb.cells), "code cells")
"""


def _source_copy(into: Path) -> Path:
    """The files a source distribution holds, so that the build leaves the working tree untouched."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, into / name)
    shutil.copytree(ROOT / "inception_lib", into / "inception_lib", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def test_installed_package_runs_a_notebook_outside_the_repository(tmp_path):
    (tmp_path / "source").mkdir()
    source = _source_copy(tmp_path / "source")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--quiet", "--no-input", "-c", str(ROOT / "requirements.txt")]
    subprocess.run([*pip, str(source), *RUNNER], check=True)

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    outside = tmp_path / "reader"
    outside.mkdir()
    check = subprocess.run([python, "-c", CHECK_ASSETS], cwd=outside, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    installed = Path(check.stdout.strip())
    shipped = sorted(p.relative_to(ASSETS) for p in ASSETS.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    missing = [str(p) for p in shipped if not (installed / p).is_file()]
    assert not missing, f"not in the installed package: {missing}"

    shutil.copy(ROOT / "notebooks" / NOTEBOOK, outside / NOTEBOOK)
    run = subprocess.run([python, "-c", EXECUTE, NOTEBOOK], cwd=outside, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "executed" in run.stdout
