"""oneDNN's fused convolution, called directly: each folded ``BasicConv2d`` (convolution + bias + ReLU)
becomes one call whose weights were reordered once, ahead of time, into the blocked layout oneDNN
chose for the input size.

Eager PyTorch hands oneDNN plain N×C×H×W-ordered weights on every call, so every call starts with a
weight reorder, and the ReLU is a second pass over the output. ``torch.ops.mkldnn`` exposes the two
operators that ``torch.compile``'s freezing pass uses to avoid both: ``_reorder_convolution_weight``
(weights in oneDNN's layout for one input shape) and ``_convolution_pointwise`` (convolution, bias
and a post-op such as ReLU in one kernel). Both are part of PyTorch; no other runtime is involved.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..model import BasicConv2d


class PackedConvReLU(nn.Module):
    """``relu(conv(x) + bias)`` in one oneDNN call, the weights pre-reordered for ``input_shape``.

    Built from a folded convolution (it has the bias that replaced BatchNorm). Inputs must be
    channels_last and of the weights' dtype; another input shape works but pays a weight reorder
    per call, as eager does. The reordered weights are opaque oneDNN tensors, kept as attributes
    (not parameters): this module is for inference only.
    """

    def __init__(self, conv: nn.Conv2d, input_shape: Sequence[int]) -> None:
        super().__init__()
        if conv.bias is None or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise ValueError("PackedConvReLU needs a folded convolution: a bias, numeric zero padding")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size = conv.kernel_size
        self.dtype = conv.weight.dtype
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        with torch.no_grad():
            self.packed_weight = torch.ops.mkldnn._reorder_convolution_weight(
                conv.weight.detach().contiguous(), *self.geometry, list(input_shape)
            )
            self.bias = conv.bias.detach().clone()

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._convolution_pointwise(x, self.packed_weight, self.bias, *self.geometry, "relu", [], "")

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, {self.dtype}, fused ReLU"


def pack_convolutions(model: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """A copy of a folded, channels_last ``model`` whose every ``BasicConv2d`` that runs on an input of
    ``input_shape`` (N, C, H, W) is a ``PackedConvReLU`` for the shape it sees there.

    The shapes come from one forward pass on zeros. Blocks that pass does not reach (the auxiliary
    head in eval mode) stay as they are. ``ValueError`` if a BatchNorm is left (fold it first) or
    if oneDNN is not available in this build of PyTorch.
    """
    if not torch.backends.mkldnn.is_available():
        raise ValueError("packing needs PyTorch built with oneDNN (torch.backends.mkldnn.is_available() is False)")
    if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        raise ValueError("pack_convolutions needs a model without BatchNorm: fold it into the convolutions first")
    if len(input_shape) != 4:
        raise ValueError(f"input_shape must be (N, C, H, W), got {tuple(input_shape)}")
    packed = copy.deepcopy(model)
    blocks = [m for m in packed.modules() if isinstance(m, BasicConv2d)]
    seen: dict[BasicConv2d, list[int]] = {}

    def record(block: nn.Module, args: tuple[Tensor, ...]) -> None:
        seen.setdefault(block, list(args[0].shape))

    hooks = [block.register_forward_pre_hook(record) for block in blocks]
    parameter = next(packed.parameters())
    try:
        with torch.no_grad():
            packed(torch.zeros(*input_shape, dtype=parameter.dtype).contiguous(memory_format=torch.channels_last))
    finally:
        for hook in hooks:
            hook.remove()
    for parent in list(packed.modules()):
        for name, child in list(parent.named_children()):
            if child in seen:
                setattr(parent, name, PackedConvReLU(child.conv, seen[child]))
    return packed
