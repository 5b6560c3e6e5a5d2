"""Grid arithmetic: the size each layer produces, the smallest input the network accepts, and the
checks that turn a bad input into a ``ValueError`` that says what is wrong and what is allowed.

Everything here reads kernel, stride, padding and dilation off the live layers, so the minimum
sizes (75 pixels for the trunk, 299 with the auxiliary head) are derived, never typed.
"""

from __future__ import annotations

import functools
from typing import Any

from torch import Tensor, nn

from .modules import InceptionBlock

Pair = tuple[int, int]


def pair(value: int | Any) -> Pair:
    """``3 -> (3, 3)``; ``(1, 7) -> (1, 7)``: a layer argument as (height, width)."""
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def window_output_length(
    length: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of a sliding window (convolution, pooling) along one axis; 0 when the padded
    input is shorter than the (dilated) kernel, so the layer cannot run.

    In ceil mode, as PyTorch's pooling does, the last window must start inside the input or the left
    padding, never entirely in the right padding.
    """
    k_eff = dilation * (kernel - 1) + 1
    padded = length + pad_begin + pad_end
    if length < 1 or padded < k_eff:
        return 0
    span = padded - k_eff
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= length + pad_begin:
        out -= 1
    return out


def output_length(module: nn.Module, length: int, axis: int = 0) -> int:
    """Length along ``axis`` (0: height, 1: width) of ``module``'s output for an input of ``length``.

    Returns 0 when some layer inside would receive an input smaller than its kernel. Parallel
    branches must all be valid, so a block yields its smallest branch. A module with a ``stages``
    attribute (the trunk) runs those children only: the auxiliary head is a side branch.
    """
    if length < 1:
        return 0
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (pair(getattr(module, a))[axis] for a in ("kernel_size", "stride", "padding"))
        d = pair(getattr(module, "dilation", 1))[axis]
        return window_output_length(length, k, s, p, p, d, bool(getattr(module, "ceil_mode", False)))
    if isinstance(module, InceptionBlock):
        lengths = []
        for name, branch in module.named_branches():
            out = output_length(branch, length, axis)
            lengths += [output_length(arm, out, axis) for arm in module.fork_arms(name)] or [out]
        return min(lengths)
    stages = getattr(module, "stages", None)
    children = [getattr(module, name) for name in stages] if stages else list(module.children())
    for child in children:
        length = output_length(child, length, axis)
    return length


def stage_stride(module: nn.Module) -> int:
    """Total stride of a stage: input length over output length, on a large grid."""
    big = 2**12
    return round(big / output_length(module, big))


def stage_channels(stage: nn.Module, in_channels: int) -> int:
    """Output channels of a stem layer or a stage; a pooling layer keeps ``in_channels``."""
    last = stage[-1] if isinstance(stage, nn.Sequential) else stage
    return getattr(last, "out_channels", in_channels)


def aux_grid(model: nn.Module, length: int, axis: int) -> int:
    """Length of the auxiliary head's last convolution output for an ``InceptionV2`` input of ``length``."""
    features = model.features
    for name in features.stages[: features.stages.index(features.aux_after) + 1]:
        length = output_length(getattr(features, name), length, axis)
    for layer in (features.aux.pool, features.aux.conv0, features.aux.conv1):
        length = output_length(layer, length, axis)
    return length


def minimum_input_size(model: nn.Module, with_aux: bool) -> int:
    """Smallest square input an ``InceptionV2`` accepts, derived from its layers (binary search)."""
    lo, hi = 1, 4096

    def ok(n: int) -> bool:
        trunk = output_length(model.features, n) >= 1
        return trunk and (not with_aux or aux_grid(model, n, 0) >= 1)

    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


@functools.lru_cache(maxsize=16)
def minimum_input_size_of(config: Any, with_aux: bool) -> int:
    """``minimum_input_size`` of the network an ``InceptionV2Config`` describes, built weightless
    (on PyTorch's ``meta`` device), so that a setting can be checked before anything is allocated."""
    from .network import InceptionV2  # the network imports this module

    model = InceptionV2(config, aux_logits=with_aux, device="meta")
    return model.min_input_size_aux if with_aux else model.min_input_size


def check_input(model: nn.Module, x: Tensor, with_aux: bool) -> None:
    """Raise ``ValueError`` saying what is wrong with ``x`` for an ``InceptionV2`` and what is allowed."""
    if not isinstance(x, Tensor):
        raise ValueError(f"expected a torch.Tensor of shape (batch, 3, height, width), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"expected a 4-D tensor (batch, 3, height, width), got {x.dim()}-D with shape {tuple(x.shape)}"
            + ("; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
        )
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}; use x.float()")
    if x.shape[1] != 3:
        raise ValueError(f"expected 3 input channels (RGB), got {x.shape[1]} in shape {tuple(x.shape)}")
    height, width = x.shape[2], x.shape[3]
    minimum = model.min_input_size_aux if with_aux else model.min_input_size
    if min(height, width) < minimum:
        why = "with the auxiliary head" if with_aux else "without the auxiliary head"
        hint = " (call model.eval(), or build with aux_logits=False, to allow smaller inputs)" if with_aux else ""
        raise ValueError(
            f"input {height}x{width} is too small: the network {why} needs at least {minimum}x{minimum}{hint}"
        )
    if model.training and x.shape[0] == 1:
        grids = [output_length(model.features, n, axis) for axis, n in enumerate((height, width))]
        if with_aux:
            grids = [
                min(g, aux_grid(model, n, axis)) for axis, (g, n) in enumerate(zip(grids, (height, width), strict=True))
            ]
        if grids[0] * grids[1] == 1:
            raise ValueError(
                f"a batch of 1 at {height}x{width} in training mode reaches a 1x1 grid, where BatchNorm "
                "has one value per channel and cannot compute batch statistics; use a batch of 2 or "
                "more, a larger input, or model.eval()"
            )
