"""One site build per session (every notebook with explorers runs once, about 1.5 min on 2 cores); the
headless chromium is the session's one (``tests/conftest.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
