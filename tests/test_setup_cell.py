"""Every notebook's first code cell installs the library where it is missing, and does nothing here."""

from __future__ import annotations

import importlib.util
import json

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from website.setup_cell import MARKER, add_setup_cell, setup_cell_source

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert first.source == setup_cell_source(), "run `.venv/bin/python -m website.setup_cell`"
    assert not first.get("outputs"), "the setup cell printed something"


def _run(monkeypatch, found: bool) -> list[str]:
    """Run the cell in an IPython shell whose %pip only records its arguments."""
    calls: list[str] = []
    shell = InteractiveShell.instance()
    shell.register_magic_function(calls.append, "line", "pip")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: real(name, *a) if found else None)
    assert shell.run_cell(setup_cell_source()).success
    return calls


def test_the_cell_installs_only_when_the_library_is_missing(monkeypatch):
    assert _run(monkeypatch, found=True) == []
    (call,) = _run(monkeypatch, found=False)
    assert call.startswith("install --quiet") and "git+https://github.com/" in call


def test_adding_the_cell_is_idempotent_and_updates_an_old_one():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("x = 1")])
    assert add_setup_cell(nb) and not add_setup_cell(nb)
    assert [c.source for c in nb.cells][1:] == [setup_cell_source(), "x = 1"]
    nb.cells[1].source = MARKER + "\nold"
    assert add_setup_cell(nb) and nb.cells[1].source == setup_cell_source() and len(nb.cells) == 3
    assert json.dumps(nb)
