"""Efficient grid size reduction (Section 5): Figure 9's two ways to halve a grid (pool first, or
expand first) against Figure 10's parallel stride-2 branches, built as real layers and counted, and
the narrowest cut through a multi-branch block (principle 1's "cut separating the inputs from the
outputs", Section 2)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..model import InceptionBlock
from .costs import Cost, row_cost
from .shapes import trace


class ParallelReduction(nn.Module):
    """Figure 10's right panel read as layers: one stride-2 convolution beside a stride-2 pool,
    concatenated. (The left panel, the paper's module, has two 1x1-led convolution branches:
    ``model.GridReduction``.)"""

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
    module: nn.Module = field(compare=False, repr=False)  # its layers, on the meta device (time them with
    # inference.timing.time_modules, which gives them real weights)

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
    """Figure 9 (left: pool then conv; right: conv then pool) and Figure 10's right panel (one
    stride-2 conv beside a stride-2 pool), built as real layers on ``channels`` x ``grid`` x ``grid``
    and counted. Each of Figure 9's Inception modules is stood in for by one 3x3 convolution, as in
    Section 5's own cost estimate (2d²k² against 2(d/2)²k²).

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
        ("parallel", "Figure 10, right panel", ParallelReduction(channels, conv_width, kernel)),
    ]
    shape = (channels, grid, grid)
    variants = []
    for name, figure, module in candidates:
        rows = trace(module, shape)
        # Parallel branches are cut together: the representation after them is their concatenation.
        sequential = isinstance(module, nn.Sequential)
        steps = [r.output_shape for r in rows if r.depth == 1] if sequential else [rows[0].output_shape]
        variants.append(ReductionVariant(name, figure, row_cost(rows[0]), (shape, *steps), module))
    return variants


def narrowest_cut(block: InceptionBlock, input_shape: Sequence[int]) -> int:
    """Fewest numbers (C x H x W) that any cut separating ``block``'s input from its output carries.

    A cut crosses every parallel branch once, after any of its layers (a pool-only branch after its
    pool), or the shared input before the branches fork: the smaller of the input's size and the sum,
    over the branches, of each branch's narrowest tensor. F7's forked arms count with their branch.
    """
    if not isinstance(block, InceptionBlock):
        raise ValueError(f"expected an InceptionBlock (F5, F6, F7, GridReduction), got {type(block).__name__}")
    rows = trace(block, input_shape)
    widths = []
    for name, _ in block.named_branches():
        inside = [r for r in rows if r.depth == 2 and r.name.startswith(f"{name}.")]
        arms = [r for r in rows if r.name in block.forks.get(name, ())]
        chain = [math.prod(r.output_shape) for r in inside]
        if arms:  # the arms' outputs are concatenated: one tensor after the fork
            chain.append(sum(math.prod(r.output_shape) for r in arms))
        widths.append(min(chain))
    return min(math.prod(input_shape), sum(widths))
