"""Asymmetric factorization (Section 3.2, Figures 3 and 6): an n x n convolution replaced by a 1 x n
followed by an n x 1. What it saves, what it keeps (the receptive field), and what it can express.

For one input and one output channel, "1 x n then n x 1" computes ``image * row * column``, which is
the n x n convolution with kernel ``column ⊗ row`` (an outer product): exactly the *rank-1* n x n
kernels. A generic kernel has rank n and cannot be reached; its best rank-1 approximation (the first
singular pair, Eckart-Young) leaves an error. With C channels between the two layers a stack can
express sums of C such outer products, which is why the factorized module loses little in practice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .costs import Factorization, conv_stack, factorize_asymmetric
from .receptive_field import analytic_receptive_fields

# Module F6 of the design document: 17 x 17 grid, 160 channels inside the factorized branches.
F6_GRID = 17
F6_WIDTH = 160


def _check_kernel(kernel: Tensor) -> int:
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"expected a square n x n kernel with odd n, got shape {tuple(kernel.shape)}")
    return kernel.shape[0]


def convolve_full(image: Tensor, kernel: Tensor) -> Tensor:
    """One n x n convolution of a (H, W) image, zero-padded to keep its size."""
    n = _check_kernel(kernel)
    return F.conv2d(image[None, None], kernel[None, None], padding=n // 2)[0, 0]


def convolve_factorized(image: Tensor, column: Tensor, row: Tensor) -> Tensor:
    """A 1 x n convolution with ``row`` followed by an n x 1 convolution with ``column``."""
    n = row.numel()
    wide = F.conv2d(image[None, None], row.view(1, 1, 1, n), padding=(0, n // 2))
    return F.conv2d(wide, column.reshape(1, 1, n, 1), padding=(n // 2, 0))[0, 0]


def rank_one_factors(kernel: Tensor) -> tuple[Tensor, Tensor]:
    """``(column, row)`` whose outer product is the best rank-1 approximation of ``kernel`` (exactly
    ``kernel`` when its rank is 1): the first singular pair, each scaled by sqrt(sigma_1)."""
    _check_kernel(kernel)
    u, s, vh = torch.linalg.svd(kernel.double())
    scale = s[0].sqrt()
    return (u[:, 0] * scale).to(kernel.dtype), (vh[0] * scale).to(kernel.dtype)


@dataclass(frozen=True)
class FactorizationCheck:
    """How well 1 x n then n x 1 reproduces an n x n convolution on one image."""

    singular_values: tuple[float, ...]  # of the kernel, largest first: its rank = how many are non-zero
    max_error: float  # largest |difference| over the output, relative to the largest |output|

    @property
    def rank(self) -> int:
        return sum(s > 1e-6 * self.singular_values[0] for s in self.singular_values)


def check_factorization(kernel: Tensor, image: Tensor) -> FactorizationCheck:
    """Compare the n x n convolution of ``image`` with the two-step one using ``kernel``'s best
    rank-1 factors: the error vanishes (to rounding) exactly when the kernel has rank 1."""
    column, row = rank_one_factors(kernel)
    full = convolve_full(image, kernel)
    error = (full - convolve_factorized(image, column, row)).abs().max() / full.abs().max()
    values = torch.linalg.svdvals(kernel.double())
    return FactorizationCheck(tuple(float(v) for v in values), float(error))


def padding_share(grid: int, n: int) -> float:
    """Share of an n-tap kernel's taps (stride 1, padded by n // 2 to keep the grid) that fall in
    the zero padding, averaged over the ``grid`` output positions along that axis."""
    if grid < 1 or n < 1 or n % 2 == 0:
        raise ValueError(f"need grid >= 1 and an odd n >= 1, got grid={grid}, n={n}")
    half = n // 2
    outside = sum(max(0, half - i) + max(0, i + half - (grid - 1)) for i in range(grid))
    return outside / (grid * n)


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
