"""What layers cost: parameters and mult-adds per module, per branch and per stage, and the paper's
factorization and grid-reduction arguments recomputed from real layers.

Every number comes from ``nn.Module`` objects traced by torchinfo (``shapes.trace``), never from a
formula typed a second time. The calculators build their layers on PyTorch's ``meta`` device:
shapes and parameter counts are real, but no weights are allocated and nothing is computed, so
they answer instantly for any width.

>>> cost(InceptionModuleF5(), (288, 35, 35))            # Cost(params=236000, mult_adds=287885792)
>>> factorize_5x5(channels=64, grid=35).saving           # 0.28  (Section 3.1, Figure 1)
>>> factorize_asymmetric(3, channels=64, grid=17).saving  # 0.333 (Section 3.2, Figure 3)
>>> grid_reduction_variants(channels=320, grid=35)        # Figure 9 (two ways) vs Figure 10

Mult-adds follow torchinfo's convention: a convolution performs one multiply-add per weight per
output position; BatchNorm and linear layers count one per parameter. For a bare convolution that
is exactly the textbook count (kernel area × input channels × output channels × output positions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import nn

from .modules import InceptionBlock
from .shapes import STAGES, LayerRow, html_bar, trace

Kernel = tuple[int, int]


@dataclass(frozen=True)
class Cost:
    """Parameters and mult-adds of some layers for one input (batch of 1)."""

    params: int
    mult_adds: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.mult_adds + other.mult_adds)


ZERO = Cost(0, 0)


def row_cost(row: LayerRow) -> Cost:
    """The cost of one traced module (everything inside it included)."""
    return Cost(row.params, row.mult_adds)


def cost(module: nn.Module, input_shape: Sequence[int], **forward_kwargs: object) -> Cost:
    """Parameters and mult-adds of ``module`` run on one ``input_shape`` (C, H, W) input."""
    return row_cost(trace(module, input_shape, **forward_kwargs)[0])


def branch_costs(block: InceptionBlock, input_shape: Sequence[int]) -> dict[str, Cost]:
    """Cost of each branch of ``block`` in concatenation order; a forked branch (F7) includes its arms.

    The branches are everything the block holds, so the values add up to ``cost(block, ...)``.
    """
    if not isinstance(block, InceptionBlock):
        raise ValueError(f"expected an InceptionBlock (F5, F6, F7, GridReduction), got {type(block).__name__}")
    rows = {r.name: r for r in trace(block, input_shape)}
    return {
        name: sum((row_cost(rows[part]) for part in (name, *block.forks.get(name, ()))), ZERO)
        for name, _ in block.named_branches()
    }


def stage_costs(rows: Sequence[LayerRow]) -> dict[str, Cost]:
    """Cost per stage of a traced ``InceptionV2`` (``trace(model, ...)``), in execution order.

    Stages: stem, mixed_5, reduction_1, mixed_6, aux (when it ran), reduction_2, mixed_7, and the
    classifier (pool, dropout, linear). Together they are the whole network.
    """
    by_name = {r.name: r for r in rows}
    if "features.stem" not in by_name:
        raise ValueError("rows must come from trace(model, ...) of an InceptionV2 (no 'features.stem' row)")
    found = {name.removeprefix("features."): row_cost(by_name[name]) for name in STAGES if name in by_name}
    head = [row_cost(r) for r in rows if r.depth == 1 and r.name != "features"]
    found["classifier"] = sum(head, ZERO)
    return found


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


# --- factorization (Section 3): a large convolution replaced by a stack of smaller ones ---


def conv_stack(kernels: Sequence[Kernel], channels: int) -> nn.Sequential:
    """Bare convolutions (no bias) of the given kernels, ``channels`` in and out, padded to keep the grid.

    Built on the ``meta`` device: real layers with real parameter counts, no memory, no arithmetic.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    layers = []
    for kh, kw in kernels:
        if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernels must have odd sides >= 1 (so padding keeps the grid), got {kh}x{kw}")
        layers.append(
            nn.Conv2d(channels, channels, (kh, kw), padding=(kh // 2, kw // 2), bias=False, device=torch.device("meta"))
        )
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class Factorization:
    """A convolution stack and its factorized replacement, counted on the same input."""

    original: tuple[Kernel, ...]
    replacement: tuple[Kernel, ...]
    channels: int
    grid: int
    original_cost: Cost
    replacement_cost: Cost

    @property
    def ratio(self) -> float:
        """Mult-adds of the replacement over those of the original (the paper's "(9+9)/25")."""
        return self.replacement_cost.mult_adds / self.original_cost.mult_adds

    @property
    def saving(self) -> float:
        """Fraction of the original's mult-adds saved by the replacement (0.28 for 5x5 -> two 3x3)."""
        return 1 - self.ratio

    def describe(self) -> str:
        """E.g. "5x5 → 3x3 + 3x3: 28.0% fewer mult-adds (64 channels, 35x35 grid)"."""
        return (
            f"{_kernels_text(self.original)} → {_kernels_text(self.replacement)}: "
            f"{100 * self.saving:.1f}% fewer mult-adds "
            f"({self.channels} channels, {self.grid}x{self.grid} grid)"
        )


def factorize(
    original: Sequence[Kernel], replacement: Sequence[Kernel], channels: int = 64, grid: int = 35
) -> Factorization:
    """Count ``original`` and ``replacement`` convolution stacks on a ``channels`` x ``grid`` x ``grid`` input.

    Every layer keeps ``channels`` channels, as in the paper's arguments, where the saving is then
    independent of both ``channels`` and ``grid``.
    """
    if grid < 1:
        raise ValueError(f"grid must be >= 1, got {grid}")
    if not original or not replacement:
        raise ValueError(f"both kernel lists must be non-empty, got {list(original)} and {list(replacement)}")
    shape = (channels, grid, grid)
    return Factorization(
        tuple(original),
        tuple(replacement),
        channels,
        grid,
        cost(conv_stack(original, channels), shape),
        cost(conv_stack(replacement, channels), shape),
    )


def factorize_5x5(channels: int = 64, grid: int = 35) -> Factorization:
    """Section 3.1, Figure 1: a 5x5 convolution replaced by two stacked 3x3 (same receptive field)."""
    return factorize([(5, 5)], [(3, 3), (3, 3)], channels, grid)


def factorize_asymmetric(n: int, channels: int = 64, grid: int = 17) -> Factorization:
    """Section 3.2, Figure 3 (n=3) and Figure 6 (any n): an n x n convolution replaced by 1 x n then n x 1."""
    if n < 3 or n % 2 == 0:
        raise ValueError(f"n must be odd and >= 3 (an n x n kernel to factorize), got {n}")
    return factorize([(n, n)], [(1, n), (n, 1)], channels, grid)


def _kernels_text(kernels: Sequence[Kernel]) -> str:
    return " + ".join(f"{h}x{w}" for h, w in kernels)


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
    labels = [f"{_kernels_text(f.original)}\n→ {_kernels_text(f.replacement)}" for f in factorizations]
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


# --- grid reduction (Section 4): Figure 9's two ways vs Figure 10's parallel branches ---


class ParallelReduction(nn.Module):
    """Figure 10 in its simplest form: a stride-2 convolution and a stride-2 pool side by side, concatenated."""

    def __init__(self, channels: int, conv_width: int, kernel: int = 3) -> None:
        super().__init__()
        meta = torch.device("meta")
        self.conv = nn.Conv2d(channels, conv_width, kernel, stride=2, bias=False, device=meta)
        self.pool = nn.MaxPool2d(kernel, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.conv(x), self.pool(x)], dim=1)


@dataclass(frozen=True)
class ReductionVariant:
    """One way to go from k x d x d to (k + w) x d/2 x d/2 (Figure 9's use k + w = 2k)."""

    name: str  # "pool then conv", "conv then pool", "parallel"
    figure: str  # where the paper draws it
    cost: Cost
    shapes: tuple[tuple[int, ...], ...]  # (C, H, W) after each step, input first, output last

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.shapes[-1]

    @property
    def narrowest(self) -> int:
        """Fewest numbers the representation holds between steps (C x H x W): the bottleneck."""
        return min(c * h * w for c, h, w in self.shapes)


def grid_reduction_variants(
    channels: int = 320, grid: int = 35, conv_width: int | None = None, kernel: int = 3
) -> list[ReductionVariant]:
    """Figure 9 (left: pool then conv; right: conv then pool) and Figure 10 (conv and pool in
    parallel, both stride 2), built as real layers on ``channels`` x ``grid`` x ``grid`` and counted.

    ``conv_width`` is the width of Figure 10's convolution branch (default ``channels``); Figure 9's
    convolutions get ``channels + conv_width`` filters, so all three produce the same output shape.
    """
    conv_width = channels if conv_width is None else conv_width
    if min(channels, conv_width, kernel) < 1 or grid < kernel:
        raise ValueError(
            "need channels, conv_width, kernel >= 1 and grid >= kernel; got "
            f"channels={channels}, conv_width={conv_width}, grid={grid}, kernel={kernel}"
        )
    out = channels + conv_width
    meta = torch.device("meta")

    def same_conv(c_in: int, c_out: int) -> nn.Conv2d:
        return nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False, device=meta)

    def pool() -> nn.MaxPool2d:
        return nn.MaxPool2d(kernel, stride=2)

    candidates = [
        ("pool then conv", "Figure 9, left", nn.Sequential(pool(), same_conv(channels, out))),
        ("conv then pool", "Figure 9, right", nn.Sequential(same_conv(channels, out), pool())),
        ("parallel", "Figure 10", ParallelReduction(channels, conv_width, kernel)),
    ]
    shape = (channels, grid, grid)
    variants = []
    for name, figure, module in candidates:
        rows = trace(module, shape)
        # Parallel branches are cut together: the representation after them is their concatenation.
        sequential = isinstance(module, nn.Sequential)
        steps = [r.output_shape for r in rows if r.depth == 1] if sequential else [rows[0].output_shape]
        variants.append(ReductionVariant(name, figure, row_cost(rows[0]), (shape, *steps)))
    return variants


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
