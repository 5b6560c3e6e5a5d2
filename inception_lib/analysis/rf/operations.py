"""What each operation of a traced graph does to a receptive field: a sliding window (convolution,
pooling, zero padding), adaptive pooling, a pointwise map, a merge of branches, or something the
arithmetic cannot follow. ``node_operation`` classifies one ``torch.fx`` node."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from ...model.geometry import pair, window_output_length
from .fields import Pair


@dataclass(frozen=True)
class Window:
    """A sliding window per axis (convolution, pooling, zero padding): everything the arithmetic needs."""

    kernel: Pair
    stride: Pair
    dilation: Pair
    pad_begin: Pair  # zeros before the first input pixel (top, left)
    pad_end: Pair  # zeros after the last one (bottom, right)
    ceil_mode: bool = False

    def output_length(self, length: int, axis: int) -> int:
        return window_output_length(
            length,
            self.kernel[axis],
            self.stride[axis],
            self.pad_begin[axis],
            self.pad_end[axis],
            self.dilation[axis],
            self.ceil_mode,
        )


@dataclass(frozen=True)
class Adaptive:
    """Adaptive pooling to ``output_size``: a window whose size depends on the input grid."""

    output_size: tuple[int | None, int | None]

    def window(self, grid: Pair, where: str) -> Window:
        kernel = []
        for length, out in zip(grid, self.output_size, strict=True):
            out = length if out is None else out
            if length % out:
                raise ValueError(
                    f"{where}: adaptive pooling from {length} to {out} uses windows of unequal sizes, so no "
                    "single receptive field describes it; choose an input size whose grid here is a multiple of "
                    f"{out}"
                )
            kernel.append(length // out)
        pair = (kernel[0], kernel[1])
        return Window(pair, pair, (1, 1), (0, 0), (0, 0))


class Pointwise:
    """Each output pixel depends on the same pixel of the input (BatchNorm, activations, dropout)."""


class Merge:
    """Branches meet: a concatenation along channels, or an elementwise sum / product."""


@dataclass(frozen=True)
class Opaque:
    """An operation whose output has no spatial receptive field this tool can follow."""

    reason: str


Operation = Window | Adaptive | Pointwise | Merge | Opaque

POINTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.Dropout,
    nn.Dropout2d,
    nn.Identity,
)
POINTWISE_FUNCTIONS: frozenset[Callable] = frozenset(
    {
        F.relu,
        F.relu_,
        torch.relu,
        torch.relu_,
        F.relu6,
        F.leaky_relu,
        F.elu,
        F.selu,
        F.celu,
        F.gelu,
        F.silu,
        F.mish,
        F.hardtanh,
        F.hardswish,
        F.hardsigmoid,
        F.softplus,
        F.sigmoid,
        torch.sigmoid,
        F.tanh,
        torch.tanh,
        F.dropout,
        F.dropout2d,
        F.batch_norm,
        operator.neg,
    }
)
POINTWISE_METHODS = frozenset(
    {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "contiguous", "clone", "float", "to"}
)
# Elementwise between tensors: a merge when two or more operands carry a field, else pointwise
# (a tensor times a scalar).
ELEMENTWISE_FUNCTIONS: frozenset[Callable] = frozenset(
    {
        operator.add,
        operator.iadd,
        operator.sub,
        operator.isub,
        operator.mul,
        operator.imul,
        operator.truediv,
        torch.add,
        torch.sub,
        torch.mul,
        torch.div,
    }
)
ELEMENTWISE_METHODS = frozenset({"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"})
CONCATENATIONS: frozenset[Callable] = frozenset({torch.cat, torch.concat, torch.concatenate})


# Signatures of the functional pooling and padding calls (builtins carry none), used to bind a
# traced call's arguments by name and build the equivalent module.
def _max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode=ceil_mode)


def _avg_pool2d(
    input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    return nn.AvgPool2d(kernel_size, stride, padding, ceil_mode=ceil_mode)


def _adaptive_avg_pool2d(input, output_size):
    return nn.AdaptiveAvgPool2d(output_size)


def _adaptive_max_pool2d(input, output_size, return_indices=False):
    return nn.AdaptiveMaxPool2d(output_size)


def _conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    # ``weight`` is the traced parameter itself (see ``equivalent_module``); only its shape counts.
    return nn.Conv2d(1, 1, tuple(weight.shape[2:]), stride, padding, dilation, bias=False, device="meta")


def _pad(input, pad, mode="constant", value=None):
    if mode != "constant" or len(pad) != 4:
        return Opaque(f"padding {tuple(pad)} in mode {mode!r} (only constant padding of both spatial axes is followed)")
    return nn.ZeroPad2d(tuple(pad))


FUNCTIONAL_MODULES: dict[Callable, Callable] = {
    F.conv2d: _conv2d,
    F.max_pool2d: _max_pool2d,
    torch.max_pool2d: _max_pool2d,
    F.avg_pool2d: _avg_pool2d,
    F.adaptive_avg_pool2d: _adaptive_avg_pool2d,
    F.adaptive_max_pool2d: _adaptive_max_pool2d,
    F.pad: _pad,
}


def equivalent_module(node: fx.Node, modules: Mapping[str, nn.Module]) -> nn.Module | Opaque | None:
    """The module a traced node runs: its own for ``call_module``, an equivalent one for a
    functional pooling / padding call, None for anything else."""
    if node.op == "call_module":
        return modules[str(node.target)]
    if node.op == "call_function" and node.target in FUNCTIONAL_MODULES:
        build = FUNCTIONAL_MODULES[node.target]  # type: ignore[index]
        args, kwargs = fx.node.map_arg((node.args, node.kwargs), lambda n: _parameter(n, modules))
        return build(*args, **kwargs)
    return None


def _parameter(node: fx.Node, modules: Mapping[str, nn.Module]) -> Any:
    """The tensor a ``get_attr`` node reads (a functional convolution's weight); other nodes as they are."""
    if node.op != "get_attr":
        return node
    owner, _, attribute = str(node.target).rpartition(".")
    return getattr(modules[owner], attribute)


def module_operation(module: nn.Module) -> Operation:
    """What a (leaf) module does to a receptive field."""
    if isinstance(module, nn.Conv2d):
        kernel, dilation = pair(module.kernel_size), pair(module.dilation)
        if isinstance(module.padding, str):  # "valid" or "same", as PyTorch pads for "same"
            total = (
                [0, 0] if module.padding == "valid" else [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            )
            begin = (total[0] // 2, total[1] // 2)
            return Window(kernel, pair(module.stride), dilation, begin, (total[0] - begin[0], total[1] - begin[1]))
        padding = pair(module.padding)
        return Window(kernel, pair(module.stride), dilation, padding, padding)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel = pair(module.kernel_size)
        stride = pair(module.stride or module.kernel_size)
        padding = pair(module.padding)
        dilation = pair(getattr(module, "dilation", 1))
        return Window(kernel, stride, dilation, padding, padding, bool(module.ceil_mode))
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        size = module.output_size
        return Adaptive((size, size) if isinstance(size, int) else tuple(size))  # type: ignore[arg-type]
    if isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d)):
        left, right, top, bottom = module.padding
        return Window((1, 1), (1, 1), (1, 1), (top, left), (bottom, right))
    if isinstance(module, POINTWISE_MODULES):
        return Pointwise()
    return Opaque(f"{type(module).__name__} layer")


def node_operation(node: fx.Node, modules: Mapping[str, nn.Module]) -> Operation:
    """What one traced node does to a receptive field."""
    module = equivalent_module(node, modules)
    if isinstance(module, Opaque):
        return module
    if module is not None:
        return module_operation(module)
    target = node.target
    if node.op == "call_function":
        if target in POINTWISE_FUNCTIONS:
            return Pointwise()
        if target in ELEMENTWISE_FUNCTIONS:
            return Merge()
        if target in CONCATENATIONS:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return Merge() if dim in (1, -3) else Opaque(f"concatenation along dim {dim} (only channels, dim 1)")
        return Opaque(f"function {getattr(target, '__name__', target)}")
    if node.op == "call_method":
        if target in POINTWISE_METHODS:
            return Pointwise()
        if target in ELEMENTWISE_METHODS:
            return Merge()
        return Opaque(f"method .{target}()")
    return Opaque(f"{node.op} {target}")
