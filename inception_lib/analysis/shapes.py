"""Shape traces: what every layer of a live module receives and produces, for any input size.

``trace`` runs torchinfo underneath and returns one ``LayerRow`` per module (qualified name, type,
input and output shape, parameters, mult-adds); ``draw.shapes.rows_html`` renders rows as a table. On top of it:
``layer_table`` reproduces the design document's layer table from the live model, and
``shape_flow`` gives the shape after each stem layer and each stage for any resolution, computed
analytically so that it also answers *where* a too-small input breaks the network.

>>> rows = trace(InceptionV2(num_classes=3), (3, 299, 299))
>>> next(r for r in rows if r.name == "features.stem.0").output_shape     # (32, 149, 149)
>>> shape_flow(model, 150)[-1]          # FlowStep('features.mixed_7', ..., (2048, 3, 3))
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torchinfo
from torch import nn

from ..model import BasicConv2d, GridReduction, InceptionFeatures, InceptionV2
from ..model.geometry import output_length, pair, stage_channels

Shape = tuple[int, ...]


def stage_names(with_aux: bool = True) -> tuple[str, ...]:
    """Qualified names of an ``InceptionV2``'s stages in execution order; the auxiliary head, when
    asked for, comes right after the stage whose output it reads."""
    names: list[str] = []
    for stage in InceptionFeatures.stages:
        names.append(f"features.{stage}")
        if with_aux and stage == InceptionFeatures.aux_after:
            names.append("features.aux")
    return tuple(names)


@dataclass(frozen=True)
class LayerRow:
    """One module of a trace. Shapes leave out the batch dimension (the trace uses a batch of 1).

    ``mult_adds`` follows torchinfo: a convolution counts its parameters once per output position,
    any other layer with parameters counts each parameter once; a container sums its leaves.
    """

    name: str  # qualified name as in ``named_modules()``; "" for the traced module itself
    type: str  # class name, e.g. "Conv2d", "InceptionModuleF5"
    depth: int  # 0 for the traced module, 1 for its children, ...
    input_shape: Shape
    output_shape: Shape
    params: int  # parameters of the module and everything inside it
    mult_adds: int


def _unbatched(size: list) -> Shape:
    """torchinfo's size of a tensor (or of the first of several outputs), without the batch dimension."""
    if size and isinstance(size[0], list):
        size = size[0]
    return tuple(size[1:])


def weightless_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers live on PyTorch's ``meta`` device: same
    structure, shapes and parameter counts, no memory for weights, and a forward pass that computes
    nothing. The original's weights are not copied (cheap even for the whole network)."""
    memo: dict[int, torch.Tensor] = {}
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        meta = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(module, memo)  # deepcopy takes the memo's tensors instead of copying the originals


def trace(module: nn.Module, input_shape: Sequence[int], **forward_kwargs: object) -> list[LayerRow]:
    """One row per executed module, in execution order, for one input of ``input_shape`` (C, H, W).

    torchinfo traces a ``weightless_copy`` in eval mode: shapes and counts are exact, no arithmetic
    runs (any input size costs the same), and ``module`` itself (weights, BatchNorm statistics,
    train/eval mode) is untouched. An ``InceptionV2`` runs its auxiliary head when it has one and the
    input is large enough (``min_input_size_aux``), so its rows appear; a side below
    ``min_input_size`` raises ``ValueError`` naming the step that would produce an empty grid.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"input_shape must be (channels, height, width) of positive ints, got {input_shape!r}")
    if isinstance(module, InceptionV2):
        if min(shape[1:]) < module.min_input_size:
            raise ValueError(f"input {size_verdict(module, shape[1:])}")
        aux = module.features.aux is not None and min(shape[1:]) >= module.min_input_size_aux
        forward_kwargs = {"with_aux": aux, **forward_kwargs}
    traced = weightless_copy(module)
    names = {id(m): name for name, m in traced.named_modules()}
    stats = torchinfo.summary(
        traced, input_size=(1, *shape), depth=99, mode="eval", verbose=0, device=torch.device("meta"), **forward_kwargs
    )
    layers = [info for info in stats.summary_list if info.executed]
    leaf_macs: dict[str, int] = {names[info.layer_id]: info.macs for info in layers if info.is_leaf_layer}
    rows = []
    for info in layers:
        name = names[info.layer_id]
        inside = [macs for leaf, macs in leaf_macs.items() if leaf == name or leaf.startswith(f"{name}.") or not name]
        rows.append(
            LayerRow(
                name=name,
                type=info.class_name,
                depth=name.count(".") + 1 if name else 0,
                input_shape=_unbatched(info.input_size),
                output_shape=_unbatched(info.output_size),
                params=sum(p.numel() for p in info.module.parameters()),
                mult_adds=sum(inside),
            )
        )
    return rows


def leaf_rows(rows: Sequence[LayerRow]) -> list[LayerRow]:
    """The rows of a trace with no other row inside them: the layers that compute, not their containers
    (the traced module itself is a container unless it is the only row)."""
    containers = {""} if len(rows) > 1 else set()
    for row in rows:
        parts = row.name.split(".")
        containers.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return [row for row in rows if row.name not in containers]


# --- the design document's layer table, from the live model ---


@dataclass(frozen=True)
class TableRow:
    """One row of the design document's "Structure" table: type, kernel/stride or remark, input size."""

    type: str
    kernel: str
    input_size: str  # e.g. "3x299x299", as the document writes it


def _kernel(layer: nn.Module) -> tuple[str, str]:
    """("conv" | "conv pad" | "pool", "3x3/2") for a stem layer."""
    op = layer.conv if isinstance(layer, BasicConv2d) else layer
    k, s, p = (pair(getattr(op, a)) for a in ("kernel_size", "stride", "padding"))
    kind = "pool" if isinstance(op, nn.MaxPool2d | nn.AvgPool2d) else "conv pad" if p != (0, 0) else "conv"
    return kind, f"{k[0]}x{k[1]}/{s[0]}"


def layer_table(model: InceptionV2, size: int = 299, rows: Sequence[LayerRow] | None = None) -> list[TableRow]:
    """The design document's layer table for ``model`` at ``size``×``size``, shapes from a trace.

    Like the document (and the paper's Table 1) it lists the stem layer by layer, each run of
    Inception modules as one row, and leaves out the grid reductions between them (their effect
    shows in the input sizes). Pass ``rows`` from an earlier ``trace`` to avoid tracing again.
    """
    rows = trace(model, (3, size, size)) if rows is None else rows
    by_name = {r.name: r for r in rows}

    def size_of(name: str) -> str:
        return "x".join(map(str, by_name[name].input_shape)) if name in by_name else ""

    table = [TableRow(*_kernel(layer), size_of(f"features.stem.{i}")) for i, layer in enumerate(model.features.stem)]
    for stage in model.features.stages[1:]:
        module = getattr(model.features, stage)
        if not isinstance(module, GridReduction):
            repeats, kind = _stage_label(module).split(" x ")
            table.append(TableRow(f"{repeats} x Inception {kind}", "", size_of(f"features.{stage}")))
    pool = by_name["avgpool"].input_shape
    table.append(TableRow("pool", f"{pool[1]}x{pool[2]}", size_of("avgpool")))
    table.append(TableRow("linear", "logits", f"{by_name['fc'].input_shape[0]}x1"))
    table.append(TableRow("softmax", "classifier", f"{by_name['fc'].output_shape[0]}x1"))
    return table


# --- shapes after each stem layer and each stage, for any resolution ---


@dataclass(frozen=True)
class FlowStep:
    """The tensor after one step of the network; a 0 in ``shape`` means the step cannot run."""

    name: str  # qualified name, or "input"
    label: str  # short description, e.g. "conv 3x3/2", "3 x F5"
    shape: Shape  # (C, H, W)


def _stage_label(stage: nn.Module) -> str:
    """ "grid reduction", or "3 x F5" for a run of modules (the paper's figure names, F5 to F7)."""
    if isinstance(stage, GridReduction):
        return "grid reduction"
    kind = type(stage[0]).__name__.removeprefix("InceptionModule")
    return f"{len(stage)} x {kind}"


def shape_flow(model: InceptionV2, size: int | tuple[int, int]) -> list[FlowStep]:
    """Shape after each stem layer and each later stage of the trunk, for a ``size`` input.

    Computed from each layer's kernel, stride and padding (``output_length``), so it works for
    any size, including too-small ones: there a step gets 0 in its shape, which shows where the
    network breaks. The auxiliary head is not part of the flow (``min_input_size_aux`` covers it).
    """
    height, width = (size, size) if isinstance(size, int) else size
    if min(height, width) < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    f = model.features
    steps = [FlowStep("input", "image", (3, height, width))]
    modules = [(f"features.stem.{i}", " ".join(_kernel(layer)), layer) for i, layer in enumerate(f.stem)]
    modules += [(f"features.{name}", _stage_label(getattr(f, name)), getattr(f, name)) for name in f.stages[1:]]
    channels = 3
    for name, label, module in modules:
        height, width = output_length(module, height, 0), output_length(module, width, 1)
        channels = stage_channels(module, channels)
        steps.append(FlowStep(name, label, (channels, height, width)))
    return steps


def size_verdict(model: InceptionV2, size: int | tuple[int, int]) -> str:
    """One sentence on what runs at ``size`` (a side, or (height, width)): nothing, the trunk only, or everything."""
    steps = shape_flow(model, size)
    height, width = steps[0].shape[1:]
    final = steps[-1].shape
    if min(height, width) < model.min_input_size:
        broken = next(s for s in steps if 0 in s.shape[1:])
        return (
            f"{height}×{width} is below the minimum of {model.min_input_size}×{model.min_input_size}: "
            f"{broken.name} ({broken.label}) would produce an empty grid, so the network cannot run."
        )
    if model.min_input_size_aux is not None and min(height, width) < model.min_input_size_aux:
        return (
            f"{height}×{width}: the trunk runs (final grid {final[1]}×{final[2]}), but the auxiliary head needs "
            f"{model.min_input_size_aux}×{model.min_input_size_aux}; train at this size with aux_logits=False."
        )
    return f"{height}×{width}: every part runs, the auxiliary head included; final grid {final[1]}×{final[2]}."
