"""One site build per session (every notebook with explorers runs once, about 1.5 min on 2 cores) and one
headless chromium that reaches nothing but the site's own files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.lab_page import CHROMIUM, launch_chromium
from website.build import build_site


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``make site``'s build into a temporary folder."""
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(out)
    return out


@pytest.fixture(scope="session")
def manifest(site: Path) -> dict:
    return json.loads((site / "site.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
