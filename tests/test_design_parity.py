"""The model reproduces every summary of the design document (docs/design_document.md) exactly."""

from __future__ import annotations

import re

import pytest

from inception_lib import GridReduction, InceptionModuleF5, InceptionModuleF6, InceptionModuleF7
from inception_lib.analysis.summary import summarize

from .conftest import DESIGN_DOCUMENT


def _document_tables() -> list[str]:
    """The torchinfo tables of the design document, in order: whole network, F5, F6, F7, grid reduction."""
    text = DESIGN_DOCUMENT.read_text()
    return [block for block in re.findall(r"```text\n(.*?)```", text, flags=re.S) if "Layer (type" in block]


def _rows(table: str) -> list[str]:
    """Layer rows and totals, without the ==== rules and byte estimates (which vary by torch build)."""
    keep = []
    for line in table.splitlines():
        if line.startswith("=") or not line.strip() or "(MB)" in line:
            continue
        keep.append(line.rstrip())
    return keep


TABLES = _document_tables()


def test_document_has_five_tables():
    assert len(TABLES) == 5


def test_whole_network_summary_matches_row_by_row(model3):
    stats = summarize(model3, (1, 3, 299, 299))
    expected = _rows(TABLES[0])
    actual = _rows(str(stats))
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got == want
    assert stats.total_params == 25_740_438
    assert f"{stats.total_mult_adds / 1e9:.2f}" == "6.20"


def test_summary_restores_training_mode(model3):
    model3.train()
    try:
        summarize(model3, (1, 3, 299, 299), depth=1)
        assert model3.training
    finally:
        model3.eval()


@pytest.mark.parametrize(
    ("index", "module", "shape", "total", "mult_adds"),
    [
        (1, lambda: InceptionModuleF5(288), (1, 288, 35, 35), 236_000, "287.89 M"),
        (2, lambda: InceptionModuleF6(768, width=160), (1, 768, 17, 17), 1_691_008, "487.71 M"),
        (3, lambda: InceptionModuleF7(1280), (1, 1280, 8, 8), 5_044_608, "322.44 M"),
        (4, lambda: GridReduction(384, (384, 384), (384, 384)), (1, 384, 35, 35), 4_280_064, "2.75 G"),
    ],
    ids=["F5", "F6", "F7", "grid-reduction-384"],
)
def test_module_summary_matches(index, module, shape, total, mult_adds):
    stats = summarize(module(), shape)
    assert _rows(str(stats)) == _rows(TABLES[index])
    assert stats.total_params == total
    value, unit = mult_adds.split()
    scale = {"M": 1e6, "G": 1e9}[unit]
    assert f"{stats.total_mult_adds / scale:.2f}" == value
