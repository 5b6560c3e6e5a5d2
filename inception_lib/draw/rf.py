"""Receptive fields drawn: growth through the layers, a unit's field over a photo (the explorer's
view), analytic against measured fields, and effective fields."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from ..analysis.rf import Box, EffectiveField, ReceptiveField, ReceptiveFields, unit_at


def growth_figure(fields: ReceptiveFields, title: str = "") -> Figure:
    """Receptive field of every layer (``fields.layers()``, in call order), height and width apart,
    with the trunk's modules (``fields.trunk()``) as a staircase and the jump, on a log scale."""
    layers = fields.layers()
    if not layers:
        raise ValueError("this network has no convolution or pooling layer to plot")
    sizes = np.array([fields[n].size for n in layers])
    xs = np.arange(len(layers))
    fig = Figure(figsize=(8, 3.4))
    ax = fig.add_subplot()
    ax.scatter(xs, sizes[:, 0], s=14, color="#1f5fa8", label="every layer: height")
    ax.scatter(xs, sizes[:, 1], s=22, marker="x", color="#e08a00", label="every layer: width")
    # Each trunk module at the position of its last layer.
    ends = [max(i for i, n in enumerate(layers) if n == t or n.startswith(t + ".")) for t in fields.trunk()]
    trunk = [fields[t] for t in fields.trunk()]
    ax.step(ends, [f.size[0] for f in trunk], where="post", color="#1f5fa8", lw=1, alpha=0.6, label="trunk modules")
    ax.step(ends, [f.jump[0] for f in trunk], where="post", color="#777777", lw=1, label="jump (effective stride)")
    ax.axhline(fields.input_size[0], color="#aa3333", lw=0.8, ls=":", label=f"input height ({fields.input_size[0]})")
    previous = -10
    for end, name in zip(ends, fields.trunk(), strict=True):
        ax.axvline(end + 0.5, color="#dddddd", lw=0.5, zorder=0)
        if end - previous >= 3:  # label only where there is room
            label = name.removeprefix("features.")
            ax.text(end + 0.3, 1.1, label, rotation=90, fontsize=6, va="bottom", ha="right", color="#777777")
            previous = end
    ax.set_yscale("log")
    ax.set_xlabel("convolution and pooling layers, in the order they run")
    ax.set_ylabel("input pixels")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or "Receptive field through the network", fontsize=10)
    fig.tight_layout()
    return fig


def render_field_on_photo(photo_uri: str, fields: ReceptiveFields, name: str, row: float, col: float) -> str:
    """Explorer view (HTML + SVG): the photo, the field of the unit at fractional position
    (``row``, ``col``) of ``name`` (solid: inside the image; dashed: the whole field, padding
    included), its centre, and the centres of all units when the grid is coarse enough to show."""
    field = fields[name]
    unit = unit_at(field, row, col)
    hull = field.box(*unit)
    inside = field.seen(*unit)
    height, width = fields.input_size
    margin = max(height, width) // 4
    shapes = []
    if field.grid[0] * field.grid[1] <= 35 * 35:  # a lattice of every unit's centre
        shapes.append(_lattice(field))
    shapes.append(
        f'<rect x="{hull.left}" y="{hull.top}" width="{hull.width}" height="{hull.height}" fill="none" '
        'stroke="#f5c400" stroke-width="2" stroke-dasharray="6 4"/>'
    )
    if inside is not None:
        shapes.append(
            f'<rect x="{inside.left}" y="{inside.top}" width="{inside.width}" height="{inside.height}" '
            'fill="#f5c40033" stroke="#f5c400" stroke-width="2"/>'
        )
    cy, cx = field.center(*unit)
    shapes.append(f'<circle cx="{cx + 0.5:g}" cy="{cy + 0.5:g}" r="4" fill="#e03030" stroke="white"/>')
    seen = f"{inside.height}×{inside.width}" if inside else "none (padding only)"
    caption = (
        f"<b>{name}</b>: grid {field.grid[0]}×{field.grid[1]}, unit ({unit[0]}, {unit[1]}): field "
        f"{field.size[0]}×{field.size[1]} px, of which {seen} inside the image; jump {field.jump[0]}×{field.jump[1]}, "
        f"effective padding {field.padding[0]}×{field.padding[1]}"
    )
    view = f"{-margin} {-margin} {width + 2 * margin} {height + 2 * margin}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view}" width="{1.4 * (width + 2 * margin):.0f}" '
        f'style="background:#333"><image href="{photo_uri}" x="0" y="0" width="{width}" height="{height}"/>'
        f"{''.join(shapes)}</svg><p>{caption}</p>"
    )


def _lattice(field: ReceptiveField) -> str:
    """SVG of a dot at the centre of every unit's field: one pattern tile per unit (a few hundred
    bytes, however many units), in input-pixel coordinates."""
    (jy, jx), (gy, gx) = field.jump, field.grid
    y0, x0 = (s + (r - 1) / 2 + 0.5 for s, r in zip(field.start, field.size, strict=True))  # unit (0, 0)
    top, left = y0 - jy / 2, x0 - jx / 2
    # The id names the geometry: two drawings on one page that share an id share the lattice too.
    name = f"units-{jy}-{jx}-{top:g}-{left:g}".replace(".", "_")
    return (
        f'<defs><pattern id="{name}" patternUnits="userSpaceOnUse" x="{left:g}" y="{top:g}" '
        f'width="{jx}" height="{jy}"><circle cx="{jx / 2:g}" cy="{jy / 2:g}" r="1.2" fill="#ffffffaa"/>'
        f'</pattern></defs><rect x="{left:g}" y="{top:g}" width="{gx * jx}" height="{gy * jy}" '
        f'fill="url(#{name})"/>'
    )


# Maps drawn in 24 levels of colour: smooth to the eye, and a few times smaller to store than a
# continuous colour map (a notebook keeps every figure it shows).
_LEVELS = {name: colormaps[name].resampled(24) for name in ("viridis", "magma")}


def _outline(ax: Axes, box: Box, **style: object) -> None:
    ax.add_patch(Rectangle((box.left - 0.5, box.top - 0.5), box.width, box.height, fill=False, **style))


def support_figure(gradients: Tensor, boxes: Sequence[Box | None], titles: Sequence[str]) -> Figure:
    """Analytic against measured: each path-probe gradient map (log scale; white where zero) with
    the analytic field clipped to the image (yellow outline)."""
    fig = Figure(figsize=(2.3 * len(titles), 2.6))
    for ax, gradient, box, title in zip(
        fig.subplots(1, len(titles), squeeze=False)[0], gradients, boxes, titles, strict=True
    ):
        values = gradient.numpy()
        shown = np.where(values > 0, np.log10(np.where(values > 0, values, 1)), np.nan)
        ax.imshow(shown, cmap=_LEVELS["viridis"], interpolation="antialiased", interpolation_stage="data")
        if box is not None:
            _outline(ax, box, edgecolor="#f5c400", lw=1.5)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def erf_figure(fields: Sequence[EffectiveField], titles: Sequence[str], mass: float = 0.95) -> Figure:
    """Effective receptive fields: each gradient-magnitude map around its theoretical field
    (yellow outline), with the share of the field holding ``mass`` of the gradient."""
    fig = Figure(figsize=(2.3 * len(titles), 2.8))
    for ax, erf, title in zip(fig.subplots(1, len(titles), squeeze=False)[0], fields, titles, strict=True):
        box = erf.theoretical
        pad = max(2, box.height // 10)
        top, left = max(box.top - pad, 0), max(box.left - pad, 0)
        crop = erf.gradient[top : box.bottom + pad + 1, left : box.right + pad + 1]
        ax.imshow(
            crop / crop.max(),
            cmap=_LEVELS["magma"],
            interpolation="antialiased",
            interpolation_stage="data",
            extent=(left - 0.5, left + crop.shape[1] - 0.5, top + crop.shape[0] - 0.5, top - 0.5),
        )
        _outline(ax, box, edgecolor="#f5c400", lw=1.2)
        ax.set_title(
            f"{title}\n{100 * mass:.0f}% of |grad| in {100 * erf.area_share(mass):.1f}% of the field", fontsize=8
        )
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
