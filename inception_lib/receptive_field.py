"""Analytic receptive fields of any CNN built from convolutions, pooling, padding, pointwise layers,
sums and concatenations, per axis, traced from the live graph with ``torch.fx``.

The arithmetic is that of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks" (Distill, 2019), run forward from the input. Along one axis a window layer with kernel
``k``, stride ``s``, left padding ``p`` and dilation ``d`` (effective kernel ``d(k-1)+1``) maps

    size  -> size + (d(k-1)+1 - 1) * jump      (the Distill recurrence r_{l-1} = s r_l + (k - s))
    jump  -> jump * s                          (the effective stride: strides multiply)
    start -> start - p * jump                  (left edge of unit 0's field; -start is the effective padding)

Height and width are separate: a 1x7 convolution widens the field and leaves its height alone.

Where branches meet (a concatenation or a sum), each branch brings its own field. When they share
the jump and the centre the graph is *aligned* and the combined field is simply the largest one.
When they do not, ``aligned`` is False and ``misaligned()`` names the meeting point: the field is
then not shift-invariant (Distill's alignment criteria), and the combined value is only exact for
the first unit.

>>> rfs = analytic_receptive_fields(InceptionV2(), 299)
>>> rfs["features.mixed_6.4"].size, rfs["features.mixed_6.4"].jump      # ((1135, 1135), (16, 16))
>>> rfs.branches("features.mixed_6.4")       # every branch's field, in concatenation order
>>> rfs.box("features.mixed_6.4", 8, 8)      # the input pixels unit (8, 8) sees, clipped to the image
>>> rfs.trunk(), rfs.layers(), rfs.misaligned()
"""

from __future__ import annotations

import argparse
import base64
import copy
import inspect
import io
import operator
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from PIL import Image
from torch import fx, nn

Pair = tuple[int, int]
Unit = tuple[int, int]


@dataclass(frozen=True)
class Box:
    """A rectangle of input pixels, inclusive on every side (rows ``top..bottom``, columns ``left..right``)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    def clip(self, height: int, width: int) -> Box | None:
        """The part inside a ``height x width`` image (the rest of a field lies in zero padding);
        None when nothing is (a unit of a padding layer that sees only padding)."""
        box = Box(max(self.top, 0), max(self.left, 0), min(self.bottom, height - 1), min(self.right, width - 1))
        return box if box.height > 0 and box.width > 0 else None

    def contains(self, other: Box) -> bool:
        return (
            self.top <= other.top
            and self.left <= other.left
            and other.bottom <= self.bottom
            and other.right <= self.right
        )


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one feature map, per axis as ``(height, width)`` pairs.

    ``size``: input pixels one unit depends on. ``jump``: input pixels between neighbouring units
    (the effective stride). ``start``: the input coordinate of the first pixel of unit (0, 0)'s
    field, negative when the field reaches into zero padding (``-start`` is Distill's effective
    padding). ``grid``: the feature map's height and width at the traced input size. ``aligned``:
    every path from the input to here agrees on jump and centre.
    """

    size: Pair
    jump: Pair
    start: Pair
    grid: Pair
    aligned: bool = True

    @property
    def padding(self) -> Pair:
        """Distill's effective padding P: how far unit (0, 0)'s field reaches before the image."""
        return (-self.start[0], -self.start[1])

    def center(self, row: int = 0, col: int = 0) -> tuple[float, float]:
        """Input coordinates (y, x) of the centre of unit ``(row, col)``'s field."""
        units = (row, col)
        return tuple(
            s + (r - 1) / 2 + i * j for s, r, i, j in zip(self.start, self.size, units, self.jump, strict=True)
        )  # type: ignore[return-value]

    def box(self, row: int, col: int) -> Box:
        """The field of unit ``(row, col)`` in input coordinates, padding included (see ``Box.clip``)."""
        for index, length, axis in ((row, self.grid[0], "row"), (col, self.grid[1], "col")):
            if not 0 <= index < length:
                raise ValueError(f"{axis} {index} is outside this {self.grid[0]}x{self.grid[1]} grid (0..{length - 1})")
        top, left = (s + i * j for s, i, j in zip(self.start, (row, col), self.jump, strict=True))
        return Box(top, left, top + self.size[0] - 1, left + self.size[1] - 1)


# --- what each traced node does to a field -------------------------------------------------------


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
        k_eff = self.dilation[axis] * (self.kernel[axis] - 1) + 1
        padded = length + self.pad_begin[axis] + self.pad_end[axis]
        if padded < k_eff:
            return 0
        span, s = padded - k_eff, self.stride[axis]
        out = (-(-span // s) if self.ceil_mode else span // s) + 1
        # As PyTorch's pooling does: in ceil mode the last window must start inside the input or
        # the left padding, never entirely in the right padding.
        if self.ceil_mode and (out - 1) * s >= length + self.pad_begin[axis]:
            out -= 1
        return out


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


def _pair(value: Any) -> Pair:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


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
        kernel, dilation = _pair(module.kernel_size), _pair(module.dilation)
        if isinstance(module.padding, str):  # "valid" or "same", as PyTorch pads for "same"
            total = (
                [0, 0] if module.padding == "valid" else [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            )
            begin = (total[0] // 2, total[1] // 2)
            return Window(kernel, _pair(module.stride), dilation, begin, (total[0] - begin[0], total[1] - begin[1]))
        padding = _pair(module.padding)
        return Window(kernel, _pair(module.stride), dilation, padding, padding)
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel = _pair(module.kernel_size)
        stride = _pair(module.stride or module.kernel_size)
        padding = _pair(module.padding)
        dilation = _pair(getattr(module, "dilation", 1))
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


# --- tracing --------------------------------------------------------------------------------------


class ModuleOutputTracer(fx.Tracer):
    """An ``fx.Tracer`` that also records which graph node each module call returns.

    Modules from ``torch.nn`` stay leaves (fx's default); everything else, such as ``BasicConv2d``
    or ``InceptionBranch`` (whose ``fork`` argument is a tuple of modules, a constant), is traced
    through, so the graph holds every branch.
    """

    def __init__(self) -> None:
        super().__init__()
        self.module_outputs: list[tuple[str, fx.Node]] = []

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        out = super().call_module(m, forward, args, kwargs)
        if isinstance(out, fx.Proxy):
            self.module_outputs.append((self.path_of_module(m), out.node))
        return out


def traced_root(model: nn.Module) -> tuple[nn.Module, str]:
    """The part of ``model`` to trace and the prefix its module names get.

    For an ``InceptionV2`` that is the trunk ``model.features`` (prefix ``"features."``): the
    classifier has no spatial field and the input checks of ``forward`` cannot be traced.
    """
    from .model import InceptionV2  # the tool works on any model; ours only needs this shortcut

    if isinstance(model, InceptionV2):
        return model.features, "features."
    return model, ""


def trace(model: nn.Module) -> tuple[fx.Graph, list[tuple[str, fx.Node]]]:
    """The fx graph of ``model``'s forward, and (qualified module name, output node) per module call.

    Only the first argument of ``forward`` (the image) is symbolic; every other parameter keeps its
    default value (``InceptionFeatures.forward``'s ``with_aux=False``, for instance).
    """
    root, prefix = traced_root(model)
    concrete = {}
    for index, parameter in enumerate(inspect.signature(root.forward).parameters.values()):
        if index == 0 or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.default is parameter.empty:
            raise ValueError(
                f"{type(root).__name__}.forward needs argument {parameter.name!r} besides the image; only "
                "models whose other arguments have defaults can be traced"
            )
        concrete[parameter.name] = parameter.default
    tracer = ModuleOutputTracer()
    try:
        graph = tracer.trace(root, concrete_args=concrete or None)
    except Exception as err:  # fx raises assorted errors on data-dependent Python control flow
        raise ValueError(
            f"torch.fx cannot trace {type(root).__name__} ({type(err).__name__}: {err}); trace a part of the "
            "model whose forward has no data-dependent control flow (e.g. its convolutional trunk)"
        ) from err
    calls = [(prefix + name, node) for name, node in tracer.module_outputs if name]
    return graph, calls


def module_nodes(calls: list[tuple[str, fx.Node]]) -> dict[str, fx.Node]:
    """Module calls from ``trace`` keyed by name; a module called again gets ``name#2``, ``name#3``, ..."""
    found: dict[str, fx.Node] = {}
    for name, node in calls:
        key, repeat = name, 1
        while key in found:
            repeat += 1
            key = f"{name}#{repeat}"
        found[key] = node
    return found


# --- propagation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Axis:
    size: int
    jump: int
    start: int
    grid: int
    aligned: bool = True

    @property
    def twice_center(self) -> int:  # an integer, so centres compare exactly
        return 2 * self.start + self.size - 1

    def through(self, window: Window, axis: int, where: str) -> _Axis:
        grid = window.output_length(self.grid, axis)
        if grid < 1:
            raise ValueError(
                f"{where}: a grid of {self.grid} along {'height' if axis == 0 else 'width'} is too small for its "
                f"window (kernel {window.kernel[axis]}, dilation {window.dilation[axis]}, padding "
                f"{window.pad_begin[axis]}+{window.pad_end[axis]}); use a larger input size"
            )
        k_eff = window.dilation[axis] * (window.kernel[axis] - 1) + 1
        return _Axis(
            self.size + (k_eff - 1) * self.jump,
            self.jump * window.stride[axis],
            self.start - window.pad_begin[axis] * self.jump,
            grid,
            self.aligned,
        )


def _merge_axis(parts: list[_Axis], where: str) -> _Axis:
    grids = {p.grid for p in parts}
    if len(grids) > 1:
        raise ValueError(f"{where}: the merged branches have different grid sizes {sorted(grids)} at this input size")
    aligned = all(p.aligned for p in parts)
    aligned &= len({p.jump for p in parts}) == 1 and len({p.twice_center for p in parts}) == 1
    if len({p.jump for p in parts}) == 1:
        # Same jump: the union of the branches' regions is one interval, the same for every unit.
        start = min(p.start for p in parts)
        end = max(p.start + p.size for p in parts)
        return _Axis(end - start, parts[0].jump, start, parts[0].grid, aligned)
    # Different jumps: the regions drift apart from unit to unit. Keep the largest branch, as
    # Distill's algorithm does; ``aligned`` is False, so the result is flagged.
    widest = max(parts, key=lambda p: p.size)
    return _Axis(widest.size, widest.jump, widest.start, widest.grid, False)


@dataclass(frozen=True)
class _Field:
    axes: tuple[_Axis, _Axis]

    def public(self) -> ReceptiveField:
        h, w = self.axes
        return ReceptiveField(
            (h.size, w.size), (h.jump, w.jump), (h.start, w.start), (h.grid, w.grid), h.aligned and w.aligned
        )


def _image_size(input_size: int | tuple[int, int]) -> Pair:
    pair = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"input_size must be a positive int or a (height, width) pair of them, got {input_size!r}")
    return pair  # type: ignore[return-value]


def _tensor_args(node: fx.Node) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg((node.args, node.kwargs), lambda n: found.append(n) or n)  # type: ignore[func-returns-value]
    return found


class ReceptiveFields(Mapping[str, ReceptiveField]):
    """Receptive fields keyed by qualified module name, in the order the module calls return.

    A module called more than once gets ``name``, ``name#2``, ... ``output`` is the field of the
    traced model's output; ``branches(name)`` gives the branches meeting at a module's output;
    ``misaligned()`` lists every meeting point whose branches disagree on stride or centre.
    """

    def __init__(self, model: nn.Module, input_size: int | tuple[int, int]) -> None:
        self.input_size = _image_size(input_size)
        graph, calls = trace(model)
        root, prefix = traced_root(model)
        modules = dict(root.named_modules())
        self._nodes: dict[str, _Field] = {}  # fx node name -> field
        self._merges: dict[str, list[str]] = {}  # merge node -> the input nodes that carry a field
        self._passthrough: dict[str, str] = {}  # pointwise node -> its input
        self._misaligned: list[str] = []
        self._inputs: dict[str, list[str]] = {}  # node -> the nodes it reads that carry a field
        self._windows: set[str] = set()  # nodes that slide a window (convolution, pooling, padding)
        opaque: dict[str, str] = {}  # node -> why no field can be followed through it
        image = next(n for n in graph.nodes if n.op == "placeholder")
        self._nodes[image.name] = _Field(tuple(_Axis(1, 1, 0, n) for n in self.input_size))  # type: ignore[arg-type]
        for node in graph.nodes:
            self._visit(node, modules, opaque)
        self._fields: dict[str, ReceptiveField] = {}
        self._module_node: dict[str, str] = {}
        self._node_modules: dict[str, list[str]] = {}
        self._layers: list[str] = []
        for key, node in module_nodes(calls).items():
            if node.name not in self._nodes:
                continue
            self._fields[key] = self._nodes[node.name].public()
            self._module_node[key] = node.name
            self._node_modules.setdefault(node.name, []).append(key)
            if node.op == "call_module" and node.name in self._windows and key == f"{prefix}{node.target}":
                self._layers.append(key)  # the layer itself, not a container that ends with it
        self._output_node = next(
            (n.name for n in _tensor_args(next(iter(reversed(graph.nodes)))) if n.name in self._nodes), None
        )
        self._misaligned = [self._label(node, "") for node in self._misaligned]

    def _visit(self, node: fx.Node, modules: Mapping[str, nn.Module], opaque: dict[str, str]) -> None:
        if node.op in ("placeholder", "output"):
            return
        inputs = _tensor_args(node)
        spatial = [n.name for n in inputs if n.name in self._nodes]
        blocked = [opaque[n.name] for n in inputs if n.name in opaque]
        if not spatial and not blocked:
            return  # nothing here depends on the image (constants, shape checks)
        operation = node_operation(node, modules)
        where = f"{node.target} ({node.name})" if node.op == "call_module" else node.name
        if blocked:
            if isinstance(operation, (Window, Adaptive)):
                raise ValueError(f"{where}: cannot follow the receptive field into this layer: {blocked[0]}")
            opaque[node.name] = blocked[0]
            return
        if isinstance(operation, Opaque):
            opaque[node.name] = f"its input passes through {operation.reason} at {node.name}"
            return
        field = self._nodes[spatial[0]]
        if isinstance(operation, Adaptive):
            operation = operation.window(tuple(a.grid for a in field.axes), where)  # type: ignore[arg-type]
        self._inputs[node.name] = spatial
        if isinstance(operation, Window):
            self._windows.add(node.name)
            self._nodes[node.name] = _Field(tuple(a.through(operation, i, where) for i, a in enumerate(field.axes)))  # type: ignore[arg-type]
        elif isinstance(operation, Merge) and len(spatial) > 1:
            parts = [self._nodes[name] for name in spatial]
            merged = _Field(tuple(_merge_axis([p.axes[i] for p in parts], where) for i in range(2)))  # type: ignore[arg-type]
            if not all(a.aligned for a in merged.axes) and all(a.aligned for p in parts for a in p.axes):
                self._misaligned.append(node.name)  # misalignment starts here
            self._nodes[node.name] = merged
            self._merges[node.name] = spatial
        else:  # pointwise, or an elementwise operation with a single image-dependent operand
            self._nodes[node.name] = field
            self._passthrough[node.name] = spatial[0]

    # --- Mapping ---
    def __getitem__(self, name: str) -> ReceptiveField:
        if name not in self._fields:
            raise KeyError(f"no receptive field for {name!r}; known names start with {list(self._fields)[:5]}")
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    @property
    def output(self) -> ReceptiveField:
        """The field of the traced model's output (the first tensor it returns)."""
        if self._output_node is None:
            raise ValueError("the model's output carries no spatial receptive field (e.g. it ends in a classifier)")
        return self._nodes[self._output_node].public()

    def box(self, name: str, row: int, col: int, clip: bool = True) -> Box | None:
        """Input pixels seen by unit ``(row, col)`` of ``name``: by default only those inside the
        image (None if there are none), else the whole field, padding included.

        The box is the field's hull: with dilation the field has holes, so a clipped box may start
        on a pixel the unit skips."""
        box = self[name].box(row, col)
        return box.clip(*self.input_size) if clip else box

    def branches(self, name: str = "") -> dict[str, ReceptiveField]:
        """The fields of the branches that meet at module ``name``'s output (the traced model's own
        output for ``""``), keyed by the outermost sub-module each branch ends in, in merge order."""
        if name and name not in self._module_node:
            raise KeyError(f"no module {name!r} with a receptive field")
        node = self._module_node[name] if name else self._output_node
        while node in self._passthrough and node not in self._merges:
            node = self._passthrough[node]
        if node not in self._merges:
            raise ValueError(f"{name or 'the output'} does not end where branches meet (a concatenation or sum)")
        found: dict[str, ReceptiveField] = {}
        for part in self._merges[node]:
            label, repeat = self._label(part, name), 1
            while label in found:
                repeat += 1
                label = f"{self._label(part, name)}#{repeat}"
            found[label] = self._nodes[part].public()
        return found

    def layers(self) -> list[str]:
        """The convolution, pooling and padding modules, in call order: every layer that changes a field."""
        return list(self._layers)

    def trunk(self) -> list[str]:
        """Module outputs that every path from the input to the output passes through (between
        multi-branch modules, say), in order, each by its innermost module name: for Inception V2
        the stem's layers and every module of mixed_5, mixed_6 and mixed_7 and both reductions."""
        position = {node: i for i, node in enumerate(self._nodes)}
        last_use: dict[str, int] = {}
        for node, inputs in self._inputs.items():
            for source in inputs:
                last_use[source] = max(last_use.get(source, 0), position[node])
        names: list[str] = []
        reach = 0
        for node, i in position.items():
            # In topological order, a node lies on every path iff no edge jumps over it.
            if reach <= i and node in self._node_modules:
                names.append(max(self._node_modules[node], key=lambda m: m.count(".")))
            reach = max(reach, last_use.get(node, i))
        return [n for n in names if not any(n.startswith(other + ".") for other in names)]

    def misaligned(self) -> list[str]:
        """Where branches first meet with different jumps or centres (empty for an aligned network)."""
        return list(self._misaligned)

    def _label(self, node: str, within: str) -> str:
        """The outermost module returning ``node``, named relative to ``within`` or, for parts that
        live beside it (the fork arms of an F7 branch), to the nearest enclosing module."""
        names = [m for m in self._node_modules.get(node, []) if m != within]
        scope = within
        while True:
            prefix = scope + "." if scope else ""
            inside = [m for m in names if m.startswith(prefix)]
            if inside:
                return min(inside, key=lambda m: m.count("."))[len(prefix) :]
            if not scope:
                return node  # no module returns it (e.g. a functional pooling call): its fx name
            scope = scope.rpartition(".")[0]


def analytic_receptive_fields(model: nn.Module, input_size: int | tuple[int, int]) -> ReceptiveFields:
    """Receptive field (size, jump, start, grid; per axis) of every module output of ``model`` for
    an input of ``input_size`` (an int for a square image, or ``(height, width)``).

    Works on any ``torch.fx``-traceable CNN made of convolutions, pooling (max, average, adaptive),
    zero padding, BatchNorm, activations, dropout, sums and channel concatenations; for an
    ``InceptionV2`` it traces the trunk. Raises ``ValueError`` naming the layer when the input is too
    small or a layer the tool cannot follow feeds a convolution or pooling.
    """
    return ReceptiveFields(model, input_size)


# --- views: growth through the layers, a unit's field over a photo --------------------------------


def growth_figure(fields: ReceptiveFields, title: str = "") -> Figure:
    """Receptive field of every layer (``fields.layers()``, in call order), height and width apart,
    with the trunk's modules (``fields.trunk()``) as a staircase and the jump, on a log scale."""
    layers = fields.layers()
    if not layers:
        raise ValueError("this network has no convolution or pooling layer to plot")
    sizes = np.array([fields[n].size for n in layers])
    xs = np.arange(len(layers))
    fig = Figure(figsize=(10, 4))
    ax = fig.add_subplot()
    ax.scatter(xs, sizes[:, 0], s=14, color="#1f5fa8", label="every layer: height")
    ax.scatter(xs, sizes[:, 1], s=22, marker="x", color="#e08a00", label="every layer: width")
    # Each trunk module at the position of its last layer.
    ends = [max(i for i, n in enumerate(layers) if n == t or n.startswith(t + ".")) for t in fields.trunk()]
    trunk = [fields[t] for t in fields.trunk()]
    ax.step(ends, [f.size[0] for f in trunk], where="post", color="#1f5fa8", lw=1, alpha=0.6, label="trunk modules")
    ax.step(ends, [f.jump[0] for f in trunk], where="post", color="#777777", lw=1, label="jump (effective stride)")
    ax.axhline(fields.input_size[0], color="#aa3333", lw=0.8, ls=":", label=f"input height ({fields.input_size[0]})")
    previous = -10
    for end, name in zip(ends, fields.trunk(), strict=True):
        ax.axvline(end + 0.5, color="#dddddd", lw=0.5, zorder=0)
        if end - previous >= 3:  # label only where there is room
            label = name.removeprefix("features.")
            ax.text(end + 0.3, 1.1, label, rotation=90, fontsize=6, va="bottom", ha="right", color="#777777")
            previous = end
    ax.set_yscale("log")
    ax.set_xlabel("convolution and pooling layers, in the order they run")
    ax.set_ylabel("input pixels")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or "Receptive field through the network", fontsize=10)
    fig.tight_layout()
    return fig


def photo_data_uri(photo: np.ndarray) -> str:
    """A (H, W, 3) array in [0, 1] as a JPEG data URI, to embed in HTML (e.g. ``images.to_display``'s output)."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(photo, 0, 1) * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def unit_at(field: ReceptiveField, row: float, col: float) -> Unit:
    """The unit at fractional position (``row``, ``col``) in [0, 1] of the field's grid."""
    for value, axis in ((row, "row"), (col, "col")):
        if not 0 <= value <= 1:
            raise ValueError(f"{axis} is a fraction of the grid, from 0 to 1; got {value}")
    return round(row * (field.grid[0] - 1)), round(col * (field.grid[1] - 1))


def render_field_on_photo(photo_uri: str, fields: ReceptiveFields, name: str, row: float, col: float) -> str:
    """Explorer view (HTML + SVG): the photo, the field of the unit at fractional position
    (``row``, ``col``) of ``name`` (solid: inside the image; dashed: the whole field, padding
    included), its centre, and the centres of all units when the grid is coarse enough to show."""
    field = fields[name]
    unit = unit_at(field, row, col)
    hull = field.box(*unit)
    inside = hull.clip(*fields.input_size)
    height, width = fields.input_size
    margin = max(height, width) // 4
    shapes = []
    if field.grid[0] * field.grid[1] <= 35 * 35:  # a lattice of every unit's centre
        ys = field.start[0] + (field.size[0] - 1) / 2 + field.jump[0] * np.arange(field.grid[0])
        xs = field.start[1] + (field.size[1] - 1) / 2 + field.jump[1] * np.arange(field.grid[1])
        shapes += [f'<circle cx="{x + 0.5:g}" cy="{y + 0.5:g}" r="1.2" fill="#ffffffaa"/>' for y in ys for x in xs]
    shapes.append(
        f'<rect x="{hull.left}" y="{hull.top}" width="{hull.width}" height="{hull.height}" fill="none" '
        'stroke="#f5c400" stroke-width="2" stroke-dasharray="6 4"/>'
    )
    if inside is not None:
        shapes.append(
            f'<rect x="{inside.left}" y="{inside.top}" width="{inside.width}" height="{inside.height}" '
            'fill="#f5c40033" stroke="#f5c400" stroke-width="2"/>'
        )
    cy, cx = field.center(*unit)
    shapes.append(f'<circle cx="{cx + 0.5:g}" cy="{cy + 0.5:g}" r="4" fill="#e03030" stroke="white"/>')
    seen = f"{inside.height}×{inside.width}" if inside else "none (padding only)"
    caption = (
        f"<b>{name}</b>: grid {field.grid[0]}×{field.grid[1]}, unit ({unit[0]}, {unit[1]}): field "
        f"{field.size[0]}×{field.size[1]} px, of which {seen} inside the image; jump {field.jump[0]}×{field.jump[1]}, "
        f"effective padding {field.padding[0]}×{field.padding[1]}"
    )
    view = f"{-margin} {-margin} {width + 2 * margin} {height + 2 * margin}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{view}" width="{1.4 * (width + 2 * margin):.0f}" '
        f'style="background:#333"><image href="{photo_uri}" x="0" y="0" width="{width}" height="{height}"/>'
        f"{''.join(shapes)}</svg><p>{caption}</p>"
    )


# --- Table 2 (Section 7): lower-resolution inputs at a constant cost -----------------------------


def low_resolution_variant(model: nn.Module, first_stride: int = 1, keep_pool: bool = True) -> nn.Module:
    """A copy of an ``InceptionV2``'s trunk with the stem changed as in Section 7 of the paper:
    the first convolution with ``first_stride`` (1 instead of 2) and, unless ``keep_pool``, the
    stem's max pool removed. Weights are copied to the ``meta`` device: shapes and counts only."""
    root, _ = traced_root(model)
    if root is model or not hasattr(root, "stem"):
        raise ValueError(f"expected an InceptionV2, got {type(model).__name__}")
    trunk = copy.deepcopy(root).to("meta")
    trunk.stem[0].conv.stride = (first_stride, first_stride)
    if not keep_pool:
        trunk.stem[3] = nn.Identity()
    return trunk


# --- command line: python -m inception_lib rf ---------------------------------------------------


def format_table(fields: ReceptiveFields, names: Sequence[str]) -> str:
    """One line per name: grid, size, jump and effective padding, each as height×width."""

    def pair(values: Pair) -> str:
        return f"{values[0]}×{values[1]}"

    lines = [f"{'module':44} {'grid':>9} {'size':>11} {'jump':>7} {'padding':>9}"]
    for name in names:
        f = fields[name]
        flag = "" if f.aligned else "  (misaligned)"
        lines.append(f"{name:44} {pair(f.grid):>9} {pair(f.size):>11} {pair(f.jump):>7} {pair(f.padding):>9}{flag}")
    return "\n".join(lines)


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``rf``: the receptive fields of Inception V2's trunk (or of every module output)."""
    parser = commands.add_parser(
        "rf",
        help="print the receptive field of every trunk module (or every module output)",
        description="Receptive field size, jump (effective stride) and effective padding, per axis, of "
        "Inception V2's module outputs, computed from the traced graph (Araujo et al., Distill 2019).",
    )
    parser.add_argument("--input-size", type=int, default=299, help="square input side in pixels (default: 299)")
    parser.add_argument("--all", action="store_true", help="every module output, not only the trunk")
    parser.set_defaults(run=_run_cli)
    return parser


def _run_cli(args: argparse.Namespace) -> int:
    from .model import InceptionV2

    model = InceptionV2(num_classes=3, aux_logits=False)
    if args.input_size < model.min_input_size:
        print(f"error: --input-size must be at least {model.min_input_size}, got {args.input_size}", file=sys.stderr)
        return 2
    fields = analytic_receptive_fields(model, args.input_size)
    print(format_table(fields, list(fields) if args.all else fields.trunk()))
    return 0
