"""Every notebook runs top to bottom in JupyterLab, its widgets render, and each explorer responds."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from playwright.sync_api import Page

from website.frames import is_explorer_output

from .conftest import NOTEBOOKS, SCREENSHOTS
from .lab_page import check_notebook

pytestmark = pytest.mark.browser

NOTEBOOK_TIMEOUT_S = 240  # generous: a notebook's kernel time is under 60 s on 2 free cores


def stored_explorers(notebook: Path) -> int:
    """How many explorers the stored notebook displays (their stable text is ``Explorer: ...``)."""
    cells = json.loads(notebook.read_text())["cells"]
    return sum(is_explorer_output(output) for cell in cells for output in cell.get("outputs", []))


@pytest.mark.timeout(NOTEBOOK_TIMEOUT_S + 120)
@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_notebook_runs_and_its_explorers_respond(lab_page: Page, notebook: Path):
    report = check_notebook(
        lab_page, notebook.name, NOTEBOOK_TIMEOUT_S, screenshot=SCREENSHOTS / f"{notebook.stem}.png"
    )
    # Beside the screenshot: cell, widget and explorer counts, what moved each explorer, seconds per phase.
    (SCREENSHOTS / f"{notebook.stem}.json").write_text(json.dumps(dataclasses.asdict(report), indent=1))
    assert report.explorers >= stored_explorers(notebook), "an explorer of the stored notebook is missing live"
    assert len(report.moved) == report.explorers
