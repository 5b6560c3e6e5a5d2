"""Factorizing convolutions (Section 3): a large convolution replaced by a stack of smaller ones —
what it saves, what it keeps (the receptive field) and what it can express.

The calculators build their layers on PyTorch's ``meta`` device: shapes and parameter counts are
real, but no weights are allocated and nothing is computed, so they answer instantly for any width.

>>> factorize_5x5(channels=64, grid=35).saving           # 0.28  (Section 3.1, Figure 1)
>>> factorize_asymmetric(3, channels=64, grid=17).saving  # 0.333 (Section 3.2, Figure 3)

For one input and one output channel, "1 x n then n x 1" computes ``image * row * column``, which is
the n x n convolution with kernel ``column ⊗ row`` (an outer product): exactly the *rank-1* n x n
kernels. A generic kernel has rank n and cannot be reached; its best rank-1 approximation (the first
singular pair, Eckart-Young) leaves an error. With C channels between the two layers a stack can
express sums of C such outer products (once C >= n any single kernel is reachable; the constraint is
that all kernels share the same C row and C column filters). This is the course's argument; the paper
argues from cost, receptive field and experiment (Sections 3.1-3.2).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .costs import Cost, cost
from .shapes import leaf_rows, trace

Kernel = tuple[int, int]


def conv_stack(kernels: Sequence[Kernel], channels: int | Sequence[int]) -> nn.Sequential:
    """Bare convolutions (no bias) of the given kernels, padded to keep the grid.

    ``channels`` is one width for the input and every layer, or the input's width followed by each
    layer's output width (``[64, 96, 96]`` for two layers widening 64 to 96 in the first).
    Built on the ``meta`` device: real layers with real parameter counts, no memory, no arithmetic.
    """
    widths = [channels] * (len(kernels) + 1) if isinstance(channels, int) else list(channels)
    if len(widths) != len(kernels) + 1 or min(widths, default=0) < 1:
        raise ValueError(
            f"channels must be >= 1, one width or {len(kernels) + 1} (input and each layer's output); got {channels}"
        )
    layers = []
    for (kh, kw), c_in, c_out in zip(kernels, widths, widths[1:], strict=False):
        if kh < 1 or kw < 1 or kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"kernels must have odd sides >= 1 (so padding keeps the grid), got {kh}x{kw}")
        layers.append(
            nn.Conv2d(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2), bias=False, device=torch.device("meta"))
        )
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class LayerTraffic:
    """What one layer computes and what it touches: its mult-adds and the values it reads and writes."""

    name: str
    mult_adds: int
    values: int  # its input, its weights and its output, counted once each

    @property
    def intensity(self) -> float:
        """Mult-adds per value touched: the less, the more a layer's speed depends on moving data."""
        return self.mult_adds / self.values


def layer_traffic(module: nn.Module, input_shape: Sequence[int]) -> list[LayerTraffic]:
    """Per leaf layer of ``module`` (in execution order) on one ``input_shape`` (C, H, W) input: its
    mult-adds and the values it must read (input, weights) and write (output) if nothing stays in
    cache between layers. A stack of layers writes each intermediate map and reads it back."""
    return [
        LayerTraffic(r.name, r.mult_adds, math.prod(r.input_shape) + r.params + math.prod(r.output_shape))
        for r in leaf_rows(trace(module, input_shape))
    ]


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
            f"{kernels_text(self.original)} → {kernels_text(self.replacement)}: "
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


def kernels_text(kernels: Sequence[Kernel]) -> str:
    return " + ".join(f"{h}x{w}" for h, w in kernels)


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
