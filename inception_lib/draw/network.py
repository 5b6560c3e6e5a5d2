"""The whole network in one picture, drawn from ``analysis.outline.network_outline``: one box per
stem layer and per stage, its height growing with the grid side and its width with the channels,
the auxiliary head branching off below, and the grid sizes shaded behind.

>>> draw_network(InceptionV2(device="meta"))     # a matplotlib Figure
"""

from __future__ import annotations

import math
from itertools import groupby

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from ..analysis.outline import OutlineStep, network_outline
from ..model import InceptionV2
from .diagrams import STYLE

COLOURS = {
    "input": STYLE["io"],
    "layer": STYLE["conv"],
    "pool": STYLE["pool"],
    "stage": STYLE["other"],
    "reduction": STYLE["pool"],
    "aux": ("#ffe2c6", "#c46a12"),
    "head": STYLE["io"],
}


def _style(step: OutlineStep) -> tuple[str, str]:
    if step.kind == "layer" and "pool" in step.label:
        return COLOURS["pool"]
    if step.kind == "stage" and "reduction" in step.label:
        return COLOURS["reduction"]
    return COLOURS[step.kind]


def _size(step: OutlineStep, largest_side: int, widest: int) -> tuple[float, float]:
    """Box (width, height): width grows with log(channels), height with the square root of the grid side."""
    side = step.shape[1] if len(step.shape) == 3 else 1
    return 0.3 + 0.5 * math.log(step.shape[0]) / math.log(widest), 0.3 + 2.0 * math.sqrt(side / largest_side)


def _millions(params: int) -> str:
    return f"{params / 1e6:.2f} M" if params >= 10_000 else f"{params:,}" if params else "–"


def draw_network(model: InceptionV2, size: int = 299, title: str | None = None) -> Figure:
    """Stages, grids and channels of ``model`` at ``size``×``size``, read from the live model."""
    steps = network_outline(model, size)
    trunk = [s for s in steps if s.kind != "aux"]
    largest = max(s.shape[1] for s in trunk if len(s.shape) == 3)
    widest = max(s.shape[0] for s in steps)
    fig = Figure(figsize=(0.92 * len(trunk) + 0.4, 4.6))
    ax = fig.add_axes((0.005, 0.0, 0.99, 0.88))
    ax.set_xlim(-0.6, len(trunk) - 0.4)
    ax.set_ylim(-3.1, 2.3)
    ax.axis("off")
    # Shade the runs of steps that end on the same grid (35×35, 17×17, 8×8): the network's three scales.
    index = {s.name: i for i, s in enumerate(trunk)}
    grid_of = [s.shape[1] if len(s.shape) == 3 else 0 for s in trunk]
    start = 0
    for side, run in groupby(grid_of):
        count = len(list(run))
        if side and count > 1:
            shade = Rectangle(
                (start - 0.47, -1.75), count - 0.06, 3.95, facecolor="#f1f1f1", edgecolor="none", zorder=0
            )
            ax.add_patch(shade)
            ax.text(start - 0.42, 2.1, f"{side}×{side} grid", fontsize=7, color="#666666", va="top")
        start += count
    for i, step in enumerate(trunk):
        _box(ax, step, i, 0.0, *_size(step, largest, widest))
        if i:
            ax.annotate(
                "", xy=(i - 0.45, 0), xytext=(i - 0.55, 0), arrowprops={"arrowstyle": "-|>", "color": "#555555"}
            )
    for step in steps:
        if step.kind == "aux":
            reads = steps[steps.index(step) - 1]
            x = index[reads.name]
            width, height = _size(step, largest, widest)
            _box(ax, step, x, -2.45, width, height, beside=True)
            ax.annotate(
                "",
                xy=(x, -2.45 + height / 2 + 0.02),
                xytext=(x, -1.05),
                arrowprops={"arrowstyle": "-|>", "color": "#c46a12"},
            )
    total = sum(s.params for s in steps)
    heading = f"{type(model).__name__} at {size}×{size}: {total:,} parameters (aux head included)"
    fig.suptitle(heading if title is None else f"{title}\n{heading}", fontsize=10)
    return fig


def _box(ax: Axes, step: OutlineStep, x: float, y: float, width: float, height: float, beside: bool = False) -> None:
    """One step's box, its label and source above (or to the right, ``beside``), its shape and parameters below."""
    fill, edge = _style(step)
    ax.add_patch(
        FancyBboxPatch(
            (x - width / 2, y - height / 2),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=0.05",
            facecolor=fill,
            edgecolor=edge,
            lw=1.1,
            zorder=2,
        )
    )
    label = step.label.replace("grid reduction", "grid\nreduction").replace("pool, dropout, linear", "pool,\nlinear")
    above = f"{label}\n{step.source}" if step.source and step.kind != "head" else label
    if beside:
        ax.text(x + width / 2 + 0.08, y, above, ha="left", va="center", fontsize=6.5, gid=step.name)
    else:
        ax.text(x, y + height / 2 + 0.06, above, ha="center", va="bottom", fontsize=6.5, gid=step.name)
    shape = "×".join(map(str, step.shape))
    ax.text(x, y - height / 2 - 0.06, f"{shape}\n{_millions(step.params)}", ha="center", va="top", fontsize=6)
