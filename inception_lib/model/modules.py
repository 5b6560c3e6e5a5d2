"""The paper's building blocks: modules F5, F6, F7 (Figures 5-7), grid reduction (Figure 10) and
the auxiliary classifier (Section 4), with the channel plan of the design document as defaults."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn

from .blocks import BasicConv2d, InceptionBranch, conv_chain


class InceptionBlock(nn.Module):
    """Base of every multi-branch block: run the branches on one input, concatenate along channels.

    Subclasses build their branches as ``InceptionBranch`` attributes and list the outputs in
    ``_forward``. ``forks`` names, per branch, the attributes holding that branch's fork arms.
    """

    forks: ClassVar[dict[str, tuple[str, ...]]] = {}

    def _forward(self, x: Tensor) -> list[Tensor]:
        return [branch(x, fork=self.fork_arms(name)) for name, branch in self.named_branches()]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), dim=1)

    def named_branches(self) -> Iterator[tuple[str, InceptionBranch]]:
        """The parallel branches, in concatenation order."""
        for name, child in self.named_children():
            if isinstance(child, InceptionBranch):
                yield name, child

    def fork_arms(self, branch_name: str) -> tuple[nn.Module, ...]:
        """The arms that ``branch_name`` forks into (empty for a plain branch)."""
        return tuple(getattr(self, arm) for arm in self.forks.get(branch_name, ()))

    @property
    def in_channels(self) -> int:
        return next(m for m in self.modules() if isinstance(m, nn.Conv2d)).in_channels

    @property
    def out_channels(self) -> int:
        """Channels after concatenation: each branch's (or its fork arms') last convolution; a
        pooling-only branch passes its input channels through."""
        total = 0
        for name, branch in self.named_branches():
            for part in self.fork_arms(name) or (branch,):
                convs = [m for m in part.modules() if isinstance(m, nn.Conv2d)]
                total += convs[-1].out_channels if convs else self.in_channels
        return total


class InceptionModuleF5(InceptionBlock):
    """Figure 5: the 5x5 convolution of Inception v1 replaced by two stacked 3x3 convolutions.

    Branches (concatenated in this order): 1x1 -> 3x3 -> 3x3 (the factorised 5x5), 1x1 -> 3x3,
    3x3 max pool -> 1x1, and a plain 1x1. All keep the grid size.
    """

    def __init__(
        self,
        in_channels: int = 288,
        double_3x3: tuple[int, int] = (64, 96),
        single_3x3: tuple[int, int] = (48, 64),
        pool_proj: int = 64,
        conv_1x1: int = 64,
    ) -> None:
        super().__init__()
        reduce_a, width_a = double_3x3
        reduce_b, width_b = single_3x3
        self.branch_5x5 = InceptionBranch(
            *conv_chain(in_channels, [(reduce_a, 1, 1, 0), (width_a, 3, 1, 1), (width_a, 3, 1, 1)])
        )
        self.branch_3x3 = InceptionBranch(*conv_chain(in_channels, [(reduce_b, 1, 1, 0), (width_b, 3, 1, 1)]))
        self.branch_pool = InceptionBranch(nn.MaxPool2d(3, stride=1, padding=1), BasicConv2d(in_channels, pool_proj, 1))
        self.branch_1x1 = InceptionBranch(BasicConv2d(in_channels, conv_1x1, 1))


class InceptionModuleF6(InceptionBlock):
    """Figure 6: n x n convolutions factorised into a 1 x n followed by an n x 1 (asymmetric).

    ``width`` is the inner channel count of the factorised branches; every branch ends with
    ``out_branch`` channels, so the module outputs ``4 * out_branch``.
    """

    def __init__(self, in_channels: int = 768, width: int = 160, n: int = 7, out_branch: int = 192) -> None:
        super().__init__()
        if n < 1 or n % 2 == 0:
            raise ValueError(f"F6 needs an odd kernel length n >= 1 so that padding n//2 keeps the grid; got n={n}")
        self.n = n
        row = (1, n), (0, n // 2)  # 1 x n kernel and the padding that keeps the grid
        col = (n, 1), (n // 2, 0)  # n x 1

        def step(channels: int, kernel_padding: tuple) -> tuple:
            return channels, kernel_padding[0], 1, kernel_padding[1]

        self.branch_nxn_double = InceptionBranch(
            *conv_chain(
                in_channels,
                [(width, 1, 1, 0), step(width, row), step(width, col), step(width, row), step(out_branch, col)],
            )
        )
        self.branch_nxn = InceptionBranch(
            *conv_chain(in_channels, [(width, 1, 1, 0), step(width, row), step(out_branch, col)])
        )
        self.branch_pool = InceptionBranch(
            nn.MaxPool2d(3, stride=1, padding=1), BasicConv2d(in_channels, out_branch, 1)
        )
        self.branch_1x1 = InceptionBranch(BasicConv2d(in_channels, out_branch, 1))


class InceptionModuleF7(InceptionBlock):
    """Figure 7: filter banks expanded on the coarsest (8x8) grid to promote high-dimensional
    representations. Two branches fork into parallel 1x3 and 3x1 convolutions whose outputs are
    concatenated rather than stacked."""

    forks: ClassVar[dict[str, tuple[str, ...]]] = {
        "branch_3x3_double": ("branch_3x3_double_1x3", "branch_3x3_double_3x1"),
        "branch_3x3": ("branch_3x3_1x3", "branch_3x3_3x1"),
    }

    def __init__(
        self,
        in_channels: int = 1280,
        double_3x3: tuple[int, int] = (448, 384),
        single_3x3: int = 384,
        pool_proj: int = 192,
        conv_1x1: int = 320,
    ) -> None:
        super().__init__()
        reduce_a, width_a = double_3x3
        self.branch_3x3_double = InceptionBranch(*conv_chain(in_channels, [(reduce_a, 1, 1, 0), (width_a, 3, 1, 1)]))
        self.branch_3x3_double_1x3, self.branch_3x3_double_3x1 = _split_arms(width_a)
        self.branch_3x3 = InceptionBranch(BasicConv2d(in_channels, single_3x3, 1))
        self.branch_3x3_1x3, self.branch_3x3_3x1 = _split_arms(single_3x3)
        self.branch_pool = InceptionBranch(nn.MaxPool2d(3, stride=1, padding=1), BasicConv2d(in_channels, pool_proj, 1))
        self.branch_1x1 = InceptionBranch(BasicConv2d(in_channels, conv_1x1, 1))


def _split_arms(channels: int) -> tuple[nn.Sequential, nn.Sequential]:
    """The 1x3 and 3x1 arms of an F7 fork, each a one-branch Sequential as in the design document."""
    return tuple(  # type: ignore[return-value]
        nn.Sequential(InceptionBranch(BasicConv2d(channels, channels, kernel, padding=pad)))
        for kernel, pad in (((1, 3), (0, 1)), ((3, 1), (1, 0)))
    )


class GridReduction(InceptionBlock):
    """Figure 10: halve the grid while expanding channels, with stride-2 convolutions in parallel
    with a stride-2 max pool. Avoids both the representational bottleneck of pooling first and the
    cost of expanding first (Figure 9)."""

    def __init__(
        self,
        in_channels: int = 288,
        double_3x3: tuple[int, int] = (64, 178),
        single_3x3: tuple[int, int] = (64, 302),
    ) -> None:
        super().__init__()
        reduce_a, width_a = double_3x3
        reduce_b, width_b = single_3x3
        self.branch_3x3_double = InceptionBranch(
            *conv_chain(in_channels, [(reduce_a, 1, 1, 0), (width_a, 3, 1, 1), (width_a, 3, 2, 0)])
        )
        self.branch_3x3 = InceptionBranch(*conv_chain(in_channels, [(reduce_b, 1, 1, 0), (width_b, 3, 2, 0)]))
        self.branch_pool = InceptionBranch(nn.MaxPool2d(3, stride=2))


class InceptionAux(nn.Module):
    """The auxiliary classifier on the last 17x17 grid (Section 4; Figure 8's caption places it "on top
    of the last 17×17 layer"). The paper argues it acts as a regularizer rather than helping early
    gradients; the model runs it only in training mode.

    The paper lists no layers for this head. These follow torchvision's ``InceptionAux`` (TF-slim's
    ``AuxLogits`` is the same with the classifier written as a 1x1 convolution): a 5x5 average pool
    with stride 3, a 1x1 convolution to 128 channels and a 5x5 convolution to 768, both with
    BatchNorm, then a plain ``nn.Linear`` classifier without BatchNorm. So this is not the
    "BN-auxiliary" head of the paper's last Table 3 row (Section 10: "the fully connected layer of the
    auxiliary classifier is also batch-normalized"), if that fully connected layer is the classifier.
    (The 5x5 convolution, which sees its whole 5x5 input and so acts as a fully connected layer, is
    batch-normalized, as in TF-slim; the paper does not say which layer it means.)
    """

    def __init__(
        self, in_channels: int = 768, num_classes: int = 1000, mid_channels: int = 128, out_channels: int = 768
    ) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv0 = BasicConv2d(in_channels, mid_channels, 1)
        self.conv1 = BasicConv2d(mid_channels, out_channels, 5)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(out_channels, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class RepeatedModule(nn.Sequential):
    """``times`` independent copies of one module configuration, applied in sequence."""

    def __init__(self, make: Callable[[], nn.Module], times: int) -> None:
        if times < 1:
            raise ValueError(f"RepeatedModule needs times >= 1, got {times}")
        super().__init__(*(make() for _ in range(times)))


def f6_stack(in_channels: int, widths: Sequence[int], n: int, out_branch: int = 192) -> nn.Sequential:
    """The F6 modules, one per inner width (the design document uses 128, 160, 160, 160, 192)."""
    modules = []
    for width in widths:
        modules.append(InceptionModuleF6(in_channels, width=width, n=n, out_branch=out_branch))
        in_channels = 4 * out_branch
    return nn.Sequential(*modules)
