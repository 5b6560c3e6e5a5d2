"""Shared fixtures. Heavy objects are built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inception_lib import InceptionV2

ROOT = Path(__file__).resolve().parents[1]
DESIGN_DOCUMENT = ROOT / "docs" / "design_document.md"


@pytest.fixture(scope="session")
def model3() -> InceptionV2:
    """The design document's configuration: 3 classes, auxiliary head on, fixed seed, eval mode."""
    return InceptionV2(num_classes=3, seed=0).eval()


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless Debian chromium for the whole session, shared by the JupyterLab and the site tests.

    Defined once, here: playwright's sync API refuses a second ``sync_playwright()`` while one is running.
    """
    from playwright.sync_api import sync_playwright

    from tests.browser.lab_page import CHROMIUM, launch_chromium

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
