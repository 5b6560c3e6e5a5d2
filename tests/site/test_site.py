"""The static site (``make site``) in a real browser with the network refused: every page renders
cleanly and every control of every kernel-free explorer changes the picture; sizes and links."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page

from website import links
from website.build import NOTEBOOKS, PAGE_BUDGET_BYTES, page_name

from .offline_page import BROKEN_IMAGES, open_offline

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK_FILES = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
# The explorers issue 15 asks to move without Python, by notebook: controls each must have.
REQUIRED = {
    "04_module_f6.ipynb": {"n"},
    "06_aux_and_label_smoothing.ipynb": {"epsilon", "num_classes"},
    "07_receptive_fields.ipynb": {"layer", "row", "col"},
    "08_feature_maps.ipynb": {"block", "channel", "weights"},
}


def _view(explorer: Locator) -> tuple[str, str]:
    return explorer.get_attribute("data-view") or "", explorer.locator(".explorer-view").inner_html()


def _move(page: Page, control: Locator) -> None:
    """Move a control as a reader does: arrow keys on a slider, another option in a list."""
    size, value = int(control.get_attribute("data-size")), int(control.input_value())
    if control.evaluate("c => c.tagName") == "INPUT":
        control.focus()
        page.keyboard.press("ArrowRight" if value + 1 < size else "ArrowLeft")
    else:
        control.select_option(str((value + 1) % size))


@pytest.mark.parametrize("name", ["index.html", *(page_name(n) for n in NOTEBOOK_FILES)])
def test_page_renders_offline_and_its_explorers_move(site: Path, chromium: Browser, name: str):
    visit = open_offline(chromium, site, name)
    page = visit.page
    try:
        assert page.locator(".jp-Cell").count() > 0
        stuck = []
        explorers = page.locator(".static-explorer")
        for i in range(explorers.count()):
            explorer = explorers.nth(i)
            title = explorer.locator(".explorer-title").inner_text()
            controls = explorer.locator("[data-control]")
            assert controls.count() > 0, f"{title}: no control"
            for j in range(controls.count()):
                control = controls.nth(j)
                before = _view(explorer)
                _move(page, control)
                after = _view(explorer)
                if after == before:
                    stuck.append(f"{title}: {control.get_attribute('data-control')}")
                page.wait_for_function("() => Array.from(document.images).every(i => i.complete)")
                assert not page.evaluate(BROKEN_IMAGES), f"{title}: a view's image did not load"
        assert not stuck, f"moving these controls did not change the picture: {stuck}"
        assert not visit.problems()
    finally:
        page.context.close()


def test_required_explorers_move_without_python(manifest: dict):
    pages = {page["notebook"]: page for page in manifest["pages"]}
    for notebook, controls in REQUIRED.items():
        moving = [set(e["controls"]) for e in pages[notebook]["explorers"] if e["kernel_free"]]
        assert any(controls <= c for c in moving), f"{notebook}: no kernel-free explorer moving {controls}"


def test_every_page_within_its_budget_and_readme_states_it(manifest: dict):
    over = {p["page"]: p["bytes"] for p in manifest["pages"] if p["bytes"] > PAGE_BUDGET_BYTES}
    assert not over, f"pages over {PAGE_BUDGET_BYTES} bytes: {over}"
    assert f"{PAGE_BUDGET_BYTES / 1e6:g} MB per page" in (links.ROOT / "README.md").read_text(encoding="utf-8")


def test_every_page_links_binder_and_colab(site: Path, manifest: dict):
    for page in manifest["pages"]:
        text = (site / page["page"]).read_text(encoding="utf-8")
        assert links.binder_url(page["notebook"]) in text and links.colab_url(page["notebook"]) in text
    assert links.binder_url() in (site / "index.html").read_text(encoding="utf-8")


def test_manifest_lists_every_notebook(manifest: dict):
    assert [p["notebook"] for p in manifest["pages"]] == NOTEBOOK_FILES


def test_the_offline_check_catches_outside_requests_errors_and_broken_images(tmp_path: Path, chromium: Browser):
    (tmp_path / "bad.html").write_text(
        '<html><body><div class="jp-Cell"></div><script src="https://cdn.example.org/x.js"></script>'
        '<img src="missing.png"><script>console.error("boom")</script></body></html>'
    )
    visit = open_offline(chromium, tmp_path, "bad.html")
    try:
        problems = visit.problems()
    finally:
        visit.page.context.close()
    assert any(p.startswith("refused: https://cdn.example.org") for p in problems)
    assert any("boom" in p for p in problems) and any("broken image" in p for p in problems)
