"""Factorization explorer (notebook 04): n x n against 1 x n + n x 1, cost and receptive field."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ..draw.costs import render_asymmetric
from .base import Explorer


def asymmetric() -> Explorer:
    """Choose n: what 1 x n then n x 1 saves inside F6, and the receptive field it keeps."""
    n = widgets.IntSlider(value=7, min=3, max=15, step=2, description="n", continuous_update=False)
    for value in range(n.min, n.max + 1, n.step):
        render_asymmetric(value)  # count every choice once now (cached), so moving the slider is instant
    return Explorer("Figure 6: n×n → 1×n + n×1, cost and receptive field", render_asymmetric, {"n": n})


EXPLORERS: dict[str, Callable[[], Explorer]] = {"asymmetric": asymmetric}
