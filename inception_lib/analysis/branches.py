"""The branch structure of Inception modules, read from the live module rather than from a picture.

``module_graph`` walks an ``InceptionBlock`` (F5, F6 with any n, F7, grid reduction, or your own):
one column per branch, one box per layer with its kernel, stride, padding and output shape, F7's
forks splitting into side-by-side arms, and the concatenation at the bottom. Output shapes come
from one forward pass on zeros, so a diagram cannot disagree with the code. ``draw.diagrams``
renders the graph; ``branch_summary`` lists the branches as text.

>>> module_graph(InceptionModuleF7(), (1280, 8, 8)).boxes[1].label   # "1×1 conv\n448×8×8"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from ..model import BasicConv2d, InceptionBlock
from ..model.geometry import pair
from ..model.runtime import evaluating


@dataclass(frozen=True)
class Box:
    """One drawn box: a layer, the input, or the concatenation."""

    name: str  # the layer's qualified name inside the module ("" for input / concat)
    kind: str  # "conv", "pool", "other" or "io"
    title: str  # e.g. "1×7 conv"
    detail: str  # stride / padding, or ""
    shape: tuple[int, ...]  # output shape without the batch dimension
    x: float  # column centre
    row: int

    @property
    def label(self) -> str:
        """The text inside the box."""
        lines = [self.title, self.detail, "×".join(map(str, self.shape))]
        return "\n".join(line for line in lines if line)


@dataclass
class ModuleGraph:
    """Boxes and edges (index pairs into ``boxes``) of one module, plus its branch columns."""

    width: int  # number of columns
    boxes: list[Box] = field(default_factory=list)
    edges: list[tuple[int, int]] = field(default_factory=list)
    branches: list[tuple[str, float]] = field(default_factory=list)  # (name, column centre)

    def add(self, box: Box, parents: Sequence[int] = ()) -> int:
        self.boxes.append(box)
        index = len(self.boxes) - 1
        self.edges += [(p, index) for p in parents]
        return index

    @property
    def rows(self) -> int:
        return max(b.row for b in self.boxes) + 1


def leaf_layers(module: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """The layers a diagram shows, in order: ``BasicConv2d`` blocks whole, other leaves as they are."""
    if isinstance(module, BasicConv2d) or not list(module.children()):
        return [(prefix, module)]
    layers = []
    for name, child in module.named_children():
        layers += leaf_layers(child, f"{prefix}.{name}" if prefix else name)
    return layers


def _size(pair: tuple[int, int]) -> str:
    """(1, 7) -> "1×7"; (3, 3) -> "3×3"."""
    return f"{pair[0]}×{pair[1]}"


def _amount(pair: tuple[int, int]) -> str:
    """Stride or padding: one number when both axes agree, else "0×3"."""
    return str(pair[0]) if pair[0] == pair[1] else _size(pair)


def describe(layer: nn.Module) -> tuple[str, str, str]:
    """``(kind, title, detail)`` of one layer, e.g. ``("conv", "1×7 conv", "pad 0×3")``."""
    if isinstance(layer, BasicConv2d):
        kind, title, op = "conv", f"{_size(pair(layer.conv.kernel_size))} conv", layer.conv
    elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
        kind, op = "pool", layer
        title = f"{_size(pair(layer.kernel_size))} {'max' if isinstance(layer, nn.MaxPool2d) else 'avg'} pool"
    else:
        return "other", type(layer).__name__, ""
    stride, padding = pair(op.stride), pair(op.padding)
    details = ([f"stride {_amount(stride)}"] if stride != (1, 1) else []) + (
        [f"pad {_amount(padding)}"] if padding != (0, 0) else []
    )
    return kind, title, ", ".join(details)


def output_shapes(module: nn.Module, input_shape: Sequence[int]) -> dict[nn.Module, tuple[int, ...]]:
    """Output shape (without batch) of every leaf layer, from one forward pass on zeros.

    Runs in eval mode without gradients, so BatchNorm statistics are untouched; the module's
    mode is restored afterwards.
    """
    shapes: dict[nn.Module, tuple[int, ...]] = {}
    hooks = [
        layer.register_forward_hook(lambda m, _, out: shapes.__setitem__(m, tuple(out.shape[1:])))
        for _, layer in leaf_layers(module)
    ]
    try:
        with torch.no_grad(), evaluating(module):
            shapes[module] = tuple(module(torch.zeros(1, *input_shape)).shape[1:])
    finally:
        for hook in hooks:
            hook.remove()
    return shapes


def _check(module: nn.Module, input_shape: Sequence[int]) -> tuple[int, ...]:
    if not isinstance(module, InceptionBlock):
        raise ValueError(
            f"expected an InceptionBlock (F5, F6, F7, GridReduction or a subclass), got {type(module).__name__}"
        )
    shape = tuple(input_shape)
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3 or shape[0] != module.in_channels:
        raise ValueError(
            f"input_shape must be (channels, height, width) with {module.in_channels} channels for this "
            f"{type(module).__name__}, got {tuple(input_shape)}"
        )
    return shape


def module_graph(module: InceptionBlock, input_shape: Sequence[int]) -> ModuleGraph:
    """Lay out ``module``'s branch graph: columns per branch (wider for forks), rows per layer."""
    shape = _check(module, input_shape)
    shapes = output_shapes(module, shape)
    branches = list(module.named_branches())
    widths = [max(1, len(module.fork_arms(name))) for name, _ in branches]
    total = sum(widths)
    graph = ModuleGraph(total)
    source = graph.add(Box("", "io", "input", "", shape, (total - 1) / 2, 0))
    ends: list[int] = []
    left = 0
    for (name, branch), width in zip(branches, widths, strict=True):
        centre = left + (width - 1) / 2
        graph.branches.append((name, centre))
        last, row = source, 0
        for sub, layer in leaf_layers(branch, name):
            row += 1
            last = graph.add(Box(sub, *describe(layer), shapes[layer], centre, row), [last])
        arm_names = module.forks.get(name, ())
        for offset, arm_name in enumerate(arm_names):
            arm_last, arm_row = last, row
            for sub, layer in leaf_layers(getattr(module, arm_name), arm_name):
                arm_row += 1
                arm_last = graph.add(Box(sub, *describe(layer), shapes[layer], left + offset, arm_row), [arm_last])
            ends.append(arm_last)
        if not arm_names:
            ends.append(last)
        left += width
    concat_row = max(graph.boxes[end].row for end in ends) + 1
    graph.add(Box("", "io", "concat", "", shapes[module], (total - 1) / 2, concat_row), ends)
    return graph


@dataclass(frozen=True)
class BranchInfo:
    """One branch in concatenation order: its layers' kernels, output shape and parameters."""

    name: str
    layers: str  # e.g. "1×1 conv → 3×3 conv → [1×3 conv | 3×1 conv]"
    shape: tuple[int, ...]
    params: int


def branch_summary(module: InceptionBlock, input_shape: Sequence[int]) -> list[BranchInfo]:
    """Per branch: layer kernels, output shape and parameter count (fork arms included)."""
    shapes = output_shapes(module, _check(module, input_shape))
    rows = []
    for name, branch in module.named_branches():
        arms = module.fork_arms(name)
        chain = [describe(layer)[1] for _, layer in leaf_layers(branch)]
        if arms:
            chain.append("[" + " | ".join(describe(layer)[1] for arm in arms for _, layer in leaf_layers(arm)) + "]")
        ends = [leaf_layers(part)[-1][1] for part in arms or (branch,)]
        channels = sum(shapes[end][0] for end in ends)
        params = sum(p.numel() for part in (branch, *arms) for p in part.parameters())
        rows.append(BranchInfo(name, " → ".join(chain), (channels, *shapes[ends[0]][1:]), params))
    return rows


def block_input_shapes(model: nn.Module, input_size: int = 299) -> dict[str, tuple[int, ...]]:
    """Input shape (without batch) of every ``InceptionBlock`` in ``model``, keyed by qualified
    name, from one forward pass on zeros of ``input_size`` x ``input_size`` (eval mode, restored)."""
    shapes: dict[str, tuple[int, ...]] = {}
    blocks = [(name, m) for name, m in model.named_modules() if isinstance(m, InceptionBlock)]
    hooks = [
        block.register_forward_pre_hook(lambda _, args, name=name: shapes.__setitem__(name, tuple(args[0].shape[1:])))
        for name, block in blocks
    ]
    try:
        with torch.no_grad(), evaluating(model):
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for hook in hooks:
            hook.remove()
    return shapes
