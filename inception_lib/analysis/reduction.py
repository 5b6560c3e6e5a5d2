"""Efficient grid size reduction (Section 5): Figure 9's two ways to halve a grid (pool first, or
expand first) against Figure 10's parallel stride-2 branches, built as real layers and counted."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .costs import Cost, row_cost
from .shapes import trace


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
