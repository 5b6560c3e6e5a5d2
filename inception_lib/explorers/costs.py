"""Cost explorers: factorized convolutions (Section 3) and grid reductions (Figures 9 and 10)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ..draw.costs import render_factorization, render_grid_reduction
from .base import Explorer


def _slider(description: str, value: int, low: int, high: int, step: int = 1) -> widgets.IntSlider:
    return widgets.IntSlider(
        value=value, min=low, max=high, step=step, description=description, continuous_update=False
    )


def factorization() -> Explorer:
    """n x n vs 1 x n + n x 1 for a chosen n, width and grid (Figure 6 uses n=7 on the 17x17 grid)."""
    controls = {
        "n": _slider("n", 7, 3, 15, 2),
        "channels": _slider("channels", 192, 16, 768, 16),
        "grid": _slider("grid", 17, 3, 71),
    }
    grid = {"channels": (64, 192, 768), "grid": (8, 17, 35)}  # Table 1's three grids; n: all 7 choices
    return Explorer("Asymmetric factorization: n×n → 1×n + n×1", render_factorization, controls, grid=grid)


def grid_reduction() -> Explorer:
    """Figure 9's two ways and Figure 10's parallel way to halve a grid, for chosen widths."""
    controls = {
        "channels": _slider("channels k", 320, 32, 1024, 32),
        "grid": _slider("grid d", 35, 9, 71, 2),
        "conv_width": _slider("conv branch", 320, 32, 1024, 32),
    }
    grid = {"channels": (160, 320, 640), "grid": (17, 35, 71), "conv_width": (160, 320, 640)}
    return Explorer(
        "Grid reduction: pool first, conv first, or both in parallel", render_grid_reduction, controls, grid=grid
    )


EXPLORERS: dict[str, Callable[[], Explorer]] = {"factorization": factorization, "grid_reduction": grid_reduction}
