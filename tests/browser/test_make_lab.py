"""The README's first command: `make lab` starts JupyterLab on notebooks/, with the arguments the tests use."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import NOTEBOOKS
from .lab_server import ROOT, lab_arguments, start_lab

pytestmark = pytest.mark.browser


def make_lab_command() -> list[str]:
    """The ``jupyter lab`` line ``make lab`` would run (``make -n`` prints it without running anything)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed (the README asks for it)")
    printed = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (line,) = [line for line in printed.splitlines() if "jupyter lab" in line]
    return shlex.split(line)


def test_make_lab_runs_jupyter_lab_with_the_arguments_the_browser_tests_use():
    assert make_lab_command() == [".venv/bin/jupyter", "lab", *lab_arguments()]


def test_make_lab_command_serves_the_notebooks(tmp_path: Path):
    command = make_lab_command()
    if not (ROOT / command[0]).exists():
        pytest.skip(f"{command[0]} is missing: the project's venv is elsewhere")
    server = start_lab([str(ROOT / command[0]), *command[1:]], cwd=ROOT, state=tmp_path)
    try:
        listing = server.request("GET", "/api/contents").json()
        served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
        assert served == {path.name for path in NOTEBOOKS.glob("*.ipynb")}
        assert server.request("GET", "/lab/tree/00_overview.ipynb").status == 200
        assert server.request("GET", "/api/contents", authorized=False).status == 403
    finally:
        server.stop()
