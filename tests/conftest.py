"""Shared fixtures. Heavy objects are built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from inception_lib import InceptionV2

ROOT = Path(__file__).resolve().parents[1]
DESIGN_DOCUMENT = ROOT / "docs" / "design_document.md"


@pytest.fixture(scope="session")
def model3() -> InceptionV2:
    """The design document's configuration: 3 classes, auxiliary head on, fixed seed, eval mode."""
    return InceptionV2(num_classes=3, seed=0).eval()
