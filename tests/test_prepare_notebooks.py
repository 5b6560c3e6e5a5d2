"""Every notebook's first code cell installs the library where it is missing (and does nothing here);
no notebook stores widget state."""

from __future__ import annotations

import importlib.util

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from website.prepare_notebooks import MARKER, add_setup_cell, drop_widget_state, main, setup_cell_source

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    assert first.source == setup_cell_source(), "run `make notebooks` (website/prepare_notebooks.py adds it)"
    assert not first.get("outputs"), "the setup cell printed something"
    assert "widgets" not in nb.metadata, "run `make notebooks`: it stores no widget state"


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
    nbformat.validate(nb)  # still a valid notebook


def test_the_command_rewrites_only_what_changes(tmp_path, capsys):
    path = tmp_path / "n.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, path)
    assert main([str(path)]) == 0 and main([str(path)]) == 0
    assert capsys.readouterr().out == f"updated {path}\n"
    stored = nbformat.read(path, as_version=4)
    assert not drop_widget_state(stored) and stored.cells[0].source == setup_cell_source()
    assert main([str(tmp_path / "missing.ipynb")]) == 2
