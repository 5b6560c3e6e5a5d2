"""The browser check fails on notebooks broken on purpose (tests/fixtures/) and passes on a working one."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from .conftest import FIXTURES_SERVED_AS, SCREENSHOTS
from .lab_page import NotebookCheckFailed, NotebookReport, check_notebook

pytestmark = pytest.mark.browser


def _check(page: Page, name: str) -> NotebookReport:
    path = f"{FIXTURES_SERVED_AS}/{name}.ipynb"
    screenshot = SCREENSHOTS / "fixtures" / f"{name}.png"
    # The fixtures' renders are trivial: a short wait for a response keeps the failing case quick.
    return check_notebook(page, path, timeout_s=120, screenshot=screenshot, response_timeout_s=5)


def test_working_explorers_pass_and_each_control_kind_drives_its_output(lab_page: Page):
    report = _check(lab_page, "explorers_ok")
    assert (report.code_cells, report.widgets, report.explorers) == (4, 2, 2)
    assert report.moved == [("lines", "slider"), ("double", "dropdown")]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            "explorer_render_raises",
            r"explorer 0 \('fragile'\): its output did not change .* \(slider\)",
            id="explorer_render_raises",
        ),
        pytest.param(
            "widget_cannot_render",
            r"(?s)code cell 0 .*Error displaying widget \(error view\).*code cell 1 .*Error displaying widget: model",
            id="widget_cannot_render",
        ),
        pytest.param("cell_raises", r"code cell 1 .*error output ValueError: broken on purpose: 1", id="cell_raises"),
    ],
)
def test_check_fails_on_a_broken_notebook(lab_page: Page, name: str, expected: str):
    with pytest.raises(NotebookCheckFailed, match=expected):
        _check(lab_page, name)
