"""Costs drawn: parameters and mult-adds per stage, factorizations (Section 3), grid reductions
(Section 5, Figures 9 and 10), and the views of the cost explorers."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from ..analysis.costs import Cost
from ..analysis.factorization import Factorization, conv_stack, factorize_asymmetric, kernels_text
from ..analysis.reduction import ReductionVariant, grid_reduction_variants
from ..analysis.rf import analytic_receptive_fields
from .encode import html_bar


def stage_cost_figure(costs: Mapping[str, Cost], title: str = "Where the parameters and mult-adds are") -> Figure:
    """Two bar charts side by side: millions of parameters and billions of mult-adds per stage."""
    fig = Figure(figsize=(10, 3.4))
    names = list(costs)
    for i, (attr, scale, label, colour) in enumerate(
        (("params", 1e6, "parameters (millions)", "#7a4f9a"), ("mult_adds", 1e9, "mult-adds (billions)", "#b89500"))
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        values = [getattr(costs[n], attr) / scale for n in names]
        bars = ax.bar(names, values, color=colour)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.set_ylim(0, max(values) * 1.15)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def factorization_figure(factorizations: Sequence[Factorization], title: str = "") -> Figure:
    """Mult-adds of each original and its replacement (paired bars), the saving written above each pair."""
    fig = Figure(figsize=(8, 3.4))
    ax = fig.add_subplot()
    xs = range(len(factorizations))
    before = [f.original_cost.mult_adds / 1e6 for f in factorizations]
    after = [f.replacement_cost.mult_adds / 1e6 for f in factorizations]
    ax.bar([x - 0.2 for x in xs], before, width=0.4, color="#b0b0b0", label="original")
    bars = ax.bar([x + 0.2 for x in xs], after, width=0.4, color="#b89500", label="factorized")
    ax.bar_label(bars, labels=[f"−{100 * f.saving:.1f}%" for f in factorizations], fontsize=8)
    labels = [f"{kernels_text(f.original)}\n→ {kernels_text(f.replacement)}" for f in factorizations]
    ax.set_xticks(list(xs), labels, fontsize=8)
    ax.set_ylabel("mult-adds (millions)")
    ax.set_ylim(0, max(before) * 1.15)
    ax.legend(fontsize=8, loc="upper left")
    first = factorizations[0]
    ax.set_title(title or f"{first.channels} channels in and out, {first.grid}×{first.grid} grid", fontsize=10)
    fig.tight_layout()
    return fig


def render_factorization(n: int, channels: int, grid: int) -> str:
    """Explorer view (HTML): n x n vs 1 x n + n x 1 for every odd n up to max(n, 9), the chosen n highlighted."""
    chosen = factorize_asymmetric(n, channels, grid)
    rows = []
    for k in range(3, max(n, 9) + 1, 2):
        f = factorize_asymmetric(k, channels, grid)
        style = ' style="background:#fff4b8;font-weight:bold"' if k == n else ""
        rows.append(
            f"<tr{style}><td>{k}×{k} → 1×{k} + {k}×1</td><td>{f.original_cost.mult_adds:,}</td>"
            f"<td>{f.replacement_cost.mult_adds:,}</td><td>{100 * f.saving:.1f}%</td>"
            f"<td style='width:10em'>{html_bar(f.saving, '#b89500')}</td></tr>"
        )
    head = "<tr><th>factorization</th><th>mult-adds before</th><th>after</th><th colspan=2>saving</th></tr>"
    return f"<p><b>{chosen.describe()}</b></p><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def grid_reduction_figure(variants: Sequence[ReductionVariant]) -> Figure:
    """Left: mult-adds of each variant. Right: size of the representation at each step (the dip is
    the representational bottleneck of pooling first)."""
    fig = Figure(figsize=(10, 3.6))
    cost_ax, size_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    colours = ("#b42318", "#7a4f9a", "#1a7f37")
    labels = [f"{v.name}\n({v.figure})" for v in variants]
    values = [v.cost.mult_adds / 1e6 for v in variants]
    bars = cost_ax.bar(labels, values, color=colours)
    cost_ax.bar_label(bars, labels=[f"{m:,.0f} M" for m in values], fontsize=8)
    cost_ax.set_ylim(0, max(values) * 1.18)
    cost_ax.set_ylabel("mult-adds (millions)")
    cost_ax.tick_params(axis="x", labelsize=8)
    for v, colour in zip(variants, colours, strict=True):
        sizes = [c * h * w / 1e3 for c, h, w in v.shapes]
        xs = [i / (len(sizes) - 1) for i in range(len(sizes))]
        size_ax.plot(xs, sizes, "o-", color=colour, label=v.name)
        size_ax.annotate(
            "×".join(map(str, v.shapes[-1])), (1, sizes[-1]), fontsize=7, xytext=(4, 0), textcoords="offset points"
        )
    size_ax.set_xticks([0, 0.5, 1], ["input", "between", "output"])
    size_ax.set_ylabel("numbers in the representation (thousands)")
    size_ax.set_ylim(0, None)
    size_ax.legend(fontsize=8)
    c, h, w = variants[0].shapes[0]
    fig.suptitle(f"Reducing a {c}×{h}×{w} grid: cost and representation size", fontsize=11)
    fig.tight_layout()
    return fig


def render_grid_reduction(channels: int, grid: int, conv_width: int) -> str:
    """Explorer view (HTML): the three variants of ``grid_reduction_variants`` with their cost, the
    shape after each step and the narrowest representation, as numbers and bars."""
    variants = grid_reduction_variants(channels, grid, conv_width)
    most_macs = max(v.cost.mult_adds for v in variants)
    widest = max(v.narrowest for v in variants)
    rows = []
    for v in variants:
        steps = " → ".join("×".join(map(str, shape)) for shape in v.shapes)
        rows.append(
            f"<tr><td style='text-align:left'>{v.name} ({v.figure})</td><td>{v.cost.mult_adds:,}</td>"
            f"<td style='width:8em'>{html_bar(v.cost.mult_adds / most_macs, '#b89500')}</td>"
            f"<td>{v.cost.params:,}</td><td style='text-align:left'>{steps}</td><td>{v.narrowest:,}</td>"
            f"<td style='width:8em'>{html_bar(v.narrowest / widest, '#1f9aaa')}</td></tr>"
        )
    head = (
        "<tr><th>variant</th><th colspan=2>mult-adds</th><th>params</th><th>shape after each step</th>"
        "<th colspan=2>narrowest representation</th></tr>"
    )
    cheap, costly, parallel = (v.cost.mult_adds for v in variants)
    summary = (
        f"conv then pool costs {costly / cheap:.2f}× pool then conv; the parallel reduction costs "
        f"{parallel / cheap:.2f}× pool then conv and keeps {variants[2].narrowest / variants[0].narrowest:.1f}× "
        "as many numbers at its narrowest point."
    )
    return f"<p><b>{summary}</b></p><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


# Module F6 of the design document: 17 x 17 grid, 160 channels inside the factorized branches.
F6_GRID = 17
F6_WIDTH = 160


# --- the explorer view: cost and receptive field for a chosen n ---------------------------------


@functools.lru_cache(maxsize=32)
def _costs(n: int) -> Factorization:
    return factorize_asymmetric(n, channels=F6_WIDTH, grid=F6_GRID)


@functools.lru_cache(maxsize=32)
def _fields(n: int) -> tuple[tuple[int, int], ...]:
    """Receptive field (height, width) after n x n, and after each layer of 1 x n then n x 1."""
    full = analytic_receptive_fields(conv_stack([(n, n)], 1), F6_GRID).output.size
    stack = analytic_receptive_fields(conv_stack([(1, n), (n, 1)], 1), F6_GRID)
    return full, stack["0"].size, stack["1"].size


def render_asymmetric(n: int) -> str:
    """Explorer view (HTML + SVG) for a chosen odd ``n``: mult-adds and parameters of n x n against
    1 x n + n x 1 inside F6 (160 channels, 17 x 17 grid), and the receptive field after each layer
    drawn to scale: the 1 x n strip, then the n x n square the full convolution also reaches."""
    if not isinstance(n, int) or n < 3 or n % 2 == 0:
        raise ValueError(f"n must be an odd int >= 3, got {n!r}")
    cost = _costs(n)
    full, after_row, after_column = _fields(n)
    cell = 12  # SVG units per input pixel
    side = max(full) * cell

    def field(x0: int, size: tuple[int, int], style: str) -> str:
        height, width = size[0] * cell, size[1] * cell
        x, y = x0 + (side - width) / 2, (side - height) / 2
        return f'<rect x="{x:g}" y="{y:g}" width="{width}" height="{height}" {style}/>'

    grid_lines = "".join(
        f'<line x1="{x0}" y1="{y}" x2="{x0 + side}" y2="{y}" stroke="#ddd"/><line x1="{x0 + y}" y1="0" '
        f'x2="{x0 + y}" y2="{side}" stroke="#ddd"/>'
        for x0 in (0, side + 3 * cell)
        for y in range(0, side + 1, cell)
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="-2 -2 {2 * side + 3 * cell + 4} {side + 4}" '
        f'width="{min(420, 2 * side + 3 * cell + 4)}">{grid_lines}'
        + field(0, full, 'fill="#b0b0b0aa" stroke="#555"')
        + field(side + 3 * cell, after_column, 'fill="none" stroke="#b89500" stroke-width="3"')
        + field(side + 3 * cell, after_row, 'fill="#f3e3a0" stroke="#b89500"')
        + "</svg>"
    )
    rows = "".join(
        f"<tr><td>{label}</td><td>{c.params:,}</td><td>{c.mult_adds:,}</td></tr>"
        for label, c in ((f"{n}×{n}", cost.original_cost), (f"1×{n} + {n}×1", cost.replacement_cost))
    )
    return (
        f"<p><b>{n}×{n} → 1×{n} + {n}×1</b> at {F6_WIDTH} channels on a {F6_GRID}×{F6_GRID} grid: "
        f"{100 * cost.saving:.1f}% fewer mult-adds (2n/n² = {2 / n:.3f} of the cost).</p>"
        f"<table><tr><th></th><th>parameters</th><th>mult-adds</th></tr>{rows}</table>"
        f"<p>Receptive field, height × width: {n}×{n} reaches {full[0]}×{full[1]} (grey); 1×{n} reaches "
        f"{after_row[0]}×{after_row[1]} (yellow strip), then {n}×1 reaches {after_column[0]}×{after_column[1]} "
        f"(yellow outline).</p>{svg}"
    )
