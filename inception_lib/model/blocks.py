"""The bricks every Inception module is built from."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IntPair = int | tuple[int, int]

# Inception v2/v3 use BatchNorm with eps=1e-3 (the TensorFlow default the paper's models were
# trained with), not PyTorch's 1e-5.
BN_EPS = 1e-3


class BasicConv2d(nn.Module):
    """Conv2d without bias, then BatchNorm2d(eps=1e-3), then ReLU.

    The convolution has no bias because the BatchNorm right after it subtracts the mean and adds
    its own learned shift, which would cancel any bias. ReLU is applied functionally, so summaries
    show two rows (conv, bn) per block, as in the design document.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionBranch(nn.Sequential):
    """One path through an Inception module: its layers applied one after the other.

    A branch may end in a *fork* (module F7, Figure 7 of the paper): parallel arms applied to the
    branch's output and concatenated along channels. The enclosing module owns the arms and passes
    them to ``forward``, so they stay registered (and summarised) as the module's own children,
    exactly as in the design document.
    """

    def forward(self, x: Tensor, fork: Sequence[nn.Module] = ()) -> Tensor:  # type: ignore[override]
        x = super().forward(x)
        if not fork:
            return x
        return torch.cat([arm(x) for arm in fork], dim=1)

    @property
    def out_channels(self) -> int | None:
        """Channels produced by the last convolution, or None for a pooling-only branch."""
        convs = [m for m in self if isinstance(m, BasicConv2d)]
        return convs[-1].out_channels if convs else None


def conv_chain(in_channels: int, specs: Sequence[tuple[int, IntPair, IntPair, IntPair]]) -> list[BasicConv2d]:
    """Build BasicConv2d blocks from ``(out_channels, kernel, stride, padding)`` tuples, chaining channels."""
    layers = []
    for out_channels, kernel, stride, padding in specs:
        layers.append(BasicConv2d(in_channels, out_channels, kernel, stride=stride, padding=padding))
        in_channels = out_channels
    return layers
