"""Where this network comes from and what others call it: the paper's Table 3 path, this course's
names beside torchvision's, and what each version costs.

The course's side of every table is computed from the live model (``trace``); torchvision's from
its transcription in ``layer_specs`` (itself checked against torchvision's published figures);
the paper's and the libraries' published numbers are quoted with their source.

>>> rows = name_table(InceptionV2(device="meta"))
>>> rows[7].torchvision.names      # ('Mixed_5b', 'Mixed_5c', 'Mixed_5d')
>>> rows[7].differences()          # ['5×5 only in torchvision', 'pools: max here, avg in torchvision', ...]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..model import BasicConv2d, InceptionBlock, InceptionV2
from ..model.geometry import Pair, pair
from .costs import cost
from .layer_specs import BlockResult, Conv, Pool, SpecBlock, SpecNetwork, torchvision_inception_v3
from .shapes import LayerRow, trace

PAPER = "Szegedy et al., Rethinking the Inception Architecture for Computer Vision (CVPR 2016)"
TORCHVISION_WEIGHTS = (
    "torchvision, Inception_V3_Weights.IMAGENET1K_V1 metadata in torchvision/models/inception.py "
    "(also https://pytorch.org/vision/stable/models/generated/torchvision.models.inception_v3.html)"
)
TIMM_CARD = "timm model card inception_v3.tv_in1k (https://huggingface.co/timm/inception_v3.tv_in1k)"


# --- the paper's Table 3: from Inception-v2 to Inception-v3 ---


@dataclass(frozen=True)
class Table3Row:
    """One row of the paper's Table 3 (single-crop ILSVRC 2012 validation error, cost in billions of operations)."""

    network: str
    change: str  # what the row adds, in the words of Section 10 (or the section it points to)
    top1: float  # %
    top5: float | None  # %; None where the table has a dash
    cost_bn_ops: float
    confirmed: bool  # the last row is confirmed by the Abstract and Section 11; the others by one transcription only


TABLE_3 = (
    Table3Row("GoogLeNet [20]", "the ILSVRC 2014 network (Szegedy et al. 2015)", 29.0, 9.2, 1.5, False),
    Table3Row("BN-GoogLeNet", "GoogLeNet with batch normalization", 26.8, None, 1.5, False),
    Table3Row("BN-Inception [7]", "Ioffe & Szegedy 2015: batch normalization, 5×5 → two 3×3", 25.2, 7.8, 2.0, False),
    Table3Row("Inception-v2", "the network of Section 6 (Table 1)", 23.4, None, 3.8, False),
    Table3Row("Inception-v2 RMSProp", "RMSProp, decay 0.9, ε = 1.0 (Section 8)", 23.1, 6.3, 3.8, False),
    Table3Row(
        "Inception-v2 Label Smoothing", "label-smoothing regularization, ε = 0.1 (Section 7)", 22.8, 6.1, 3.8, False
    ),
    Table3Row(
        "Inception-v2 Factorized 7×7",
        "the first 7×7 convolution factorized into a sequence of 3×3 convolutions (Section 10)",
        21.6,
        5.8,
        4.8,
        False,
    ),
    Table3Row(
        "Inception-v2 BN-auxiliary",
        "the auxiliary classifier's fully connected layer batch-normalized too, not just its convolutions (Section 10)",
        21.2,
        5.6,
        4.8,
        True,
    ),
)


# --- this course's names beside torchvision's ---


@dataclass(frozen=True)
class Side:
    """One side of a row of the name table: a layer, or a run of modules, in one implementation."""

    names: tuple[str, ...]
    kind: str  # e.g. "conv 3×3/2", "InceptionModuleF5"
    count: int  # modules in the run (1 for a single layer or module)
    shape: tuple[int, ...]  # output shape (without batch) at 299×299
    params: int
    mult_adds: int
    kernels: tuple[str, ...]  # distinct convolution kernels, e.g. ("1×1", "3×3")
    pools: tuple[str, ...]  # distinct pooling kinds ("avg", "max")
    branch_channels: tuple[int, ...]  # output channels per branch of the first module; () for a plain layer

    @property
    def label(self) -> str:
        """The names, shortened to the first and last of a run of modules ("Mixed_6b…Mixed_6e")."""
        return f"{self.names[0]}…{self.names[-1]}" if len(self.names) > 2 else ", ".join(self.names)


@dataclass(frozen=True)
class NameRow:
    """This course's unit and torchvision's counterpart."""

    course: Side
    torchvision: Side

    def differences(self) -> list[str]:
        """What differs, computed from the two sides (an empty list: built alike)."""
        here, there = self.course, self.torchvision
        found = []
        if here.count != there.count:
            found.append(f"{here.count} modules here, {there.count} in torchvision")
        if not here.branch_channels and here.kind != there.kind:  # a plain layer, or the classifier
            mine, theirs = here.kind.split(", "), there.kind.split(", ")
            if len(mine) == len(theirs):  # name only the parts that differ ("dropout 0.2" vs "dropout 0.5")
                mine, theirs = zip(*[(a, b) for a, b in zip(mine, theirs, strict=True) if a != b], strict=True)
            found.append(f"{', '.join(mine)} here, {', '.join(theirs)} in torchvision")
        elif here.branch_channels:
            found += [f"{k} only here" for k in sorted(set(here.kernels) - set(there.kernels))]
            found += [f"{k} only in torchvision" for k in sorted(set(there.kernels) - set(here.kernels))]
            if here.pools != there.pools:
                found.append(f"pools: {_join(here.pools)} here, {_join(there.pools)} in torchvision")
        if sorted(here.branch_channels) == sorted(there.branch_channels) != list(here.branch_channels):
            found.append("the same branch widths, concatenated in another order")
        elif here.branch_channels != there.branch_channels:
            found.append(
                f"branch outputs {_join(here.branch_channels, ' + ')} here, "
                f"{_join(there.branch_channels, ' + ')} in torchvision"
            )
        if here.shape != there.shape:
            found.append(f"output {_join(here.shape, '×')} here, {_join(there.shape, '×')} in torchvision")
        if here.params != there.params:
            found.append(f"{here.params - there.params:+,} parameters here")
        return found


def _join(values: Sequence[object], sep: str = "/") -> str:
    return sep.join(map(str, values)) or "none"


_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2")
HEAD = ("avgpool", "dropout", "fc")
# Course unit (qualified names in InceptionV2) -> torchvision attributes of Inception3, in execution order.
PAIRS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    *(((f"features.stem.{i}",), (name,)) for i, name in enumerate(_STEM)),
    (("features.mixed_5",), ("Mixed_5b", "Mixed_5c", "Mixed_5d")),
    (("features.reduction_1",), ("Mixed_6a",)),
    (("features.mixed_6",), ("Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")),
    (("features.aux",), ("AuxLogits",)),
    (("features.reduction_2",), ("Mixed_7a",)),
    (("features.mixed_7",), ("Mixed_7b", "Mixed_7c")),
    (HEAD, HEAD),
)


def _layer_kind(kernel: Pair, stride: int, padding: Pair, pool: str | None) -> str:
    """ "conv 3×3/2", "conv 3×3/1 pad", "max pool 3×3/2"."""
    pad = " pad" if padding != (0, 0) else ""
    return f"{f'{pool} pool' if pool else 'conv'} {kernel[0]}×{kernel[1]}/{stride}{pad}"


def _pool_kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.MaxPool2d):
        return "max"
    return "avg" if isinstance(module, nn.AvgPool2d) else None


def _course_side(model: InceptionV2, names: tuple[str, ...], rows: dict[str, LayerRow]) -> Side:
    modules = [model.get_submodule(name) for name in names]
    first = modules[0]
    run = list(first) if isinstance(first, nn.Sequential) and isinstance(first[0], InceptionBlock) else [first]
    if names == HEAD:
        kind = f"avg pool, dropout {model.dropout.p:g}, linear {model.fc.in_features}→{model.fc.out_features}"
    elif isinstance(first, nn.MaxPool2d | BasicConv2d):
        op = getattr(first, "conv", first)
        kind = _layer_kind(pair(op.kernel_size), pair(op.stride)[0], pair(op.padding), _pool_kind(op))
    else:
        kind = type(run[0]).__name__
    branches: tuple[int, ...] = ()
    if isinstance(run[0], InceptionBlock):
        block_name = f"{names[0]}.0" if run[0] is not first else names[0]
        block = run[0]
        # A forked branch's row already has its arms' outputs concatenated (F7: 384 + 384 = 768).
        branches = tuple(rows[f"{block_name}.{branch}"].output_shape[0] for branch, _ in block.named_branches())
    parts = [m for module in modules for m in module.modules()]
    return Side(
        names=tuple(f"{names[0]}.{i}" for i in range(len(run))) if len(run) > 1 else names,
        kind=kind,
        count=len(run),
        shape=rows[names[-1]].output_shape,
        params=sum(rows[name].params for name in names),
        mult_adds=sum(rows[name].mult_adds for name in names),
        kernels=tuple(sorted({"{}×{}".format(*pair(m.kernel_size)) for m in parts if isinstance(m, nn.Conv2d)})),
        pools=tuple(sorted({p for m in parts if (p := _pool_kind(m))})),
        branch_channels=branches,
    )


def _spec_side(names: tuple[str, ...], net: SpecNetwork, runs: dict[str, tuple[SpecBlock, BlockResult]]) -> Side:
    found = [runs[name] for name in names if name in runs]  # the head's pool and dropout live in its Linear
    first, first_result = found[0]
    steps = [step for block, _ in found for step in block.steps()]
    if names == HEAD:
        kind = f"avg pool, dropout {net.dropout:g}, linear {first_result.input_shape[0]}→{first_result.shape[0]}"
    elif isinstance(step := steps[0], Conv) and first.cls == "BasicConv2d":
        kind = _layer_kind(step.kernel, step.stride, step.padding, None)
    elif isinstance(step, Pool) and first.cls == "MaxPool2d":
        kind = _layer_kind((step.kernel,) * 2, step.stride, (step.padding,) * 2, step.kind)
    else:
        kind = first.cls
    return Side(
        names=names,
        kind=kind,
        count=len(found),
        shape=found[-1][1].shape,
        params=sum(result.cost.params for _, result in found),
        mult_adds=sum(result.cost.mult_adds for _, result in found),
        kernels=tuple(sorted({f"{s.kernel[0]}×{s.kernel[1]}" for s in steps if isinstance(s, Conv)})),
        pools=tuple(sorted({s.kind for s in steps if isinstance(s, Pool)})),
        branch_channels=first_result.branch_channels if len(first.branches) > 1 else (),
    )


def name_table(model: InceptionV2, net: SpecNetwork | None = None) -> list[NameRow]:
    """This course's layers and stages beside torchvision's ``Inception3`` attributes, at 299×299.

    ``model`` must have the auxiliary head; ``net`` defaults to ``torchvision_inception_v3`` with
    ``model``'s number of classes. The stem is paired layer by layer, the rest stage by stage.
    """
    if model.features.aux is None:
        raise ValueError("name_table needs a model with the auxiliary head (aux_logits=True)")
    net = net or torchvision_inception_v3(model.num_classes)
    rows = {r.name: r for r in trace(model, (3, 299, 299))}
    runs = {block.name: (block, result) for block, result in net.run(299)}
    return [NameRow(_course_side(model, ours, rows), _spec_side(theirs, net, runs)) for ours, theirs in PAIRS]


# --- what each version costs ---


@dataclass(frozen=True)
class CostFigure:
    """Parameters and multiply-adds of one network, computed here or as published."""

    network: str
    params: float | None  # None: not given by the source
    mult_adds: float | None
    source: str
    computed: bool
    params_bound: str = ""  # "< " where the source gives an upper bound ("less than 25 million parameters")


def cost_table(num_classes: int = 1000) -> list[CostFigure]:
    """This course's network (computed), torchvision's (recomputed from its layers, and as published)
    and the paper's figures, at ``num_classes`` classes for the computed rows."""
    with_aux, without = (
        cost(InceptionV2(num_classes=num_classes, aux_logits=aux, device="meta"), (3, 299, 299))
        for aux in (True, False)
    )
    tv = torchvision_inception_v3(num_classes)
    tv_aux, tv_plain = tv.cost(with_aux=True), tv.cost(with_aux=False)
    here = "trace of the live model"
    transcribed = "torchvision/models/inception.py, its layers transcribed in layer_specs"
    return [
        CostFigure("this course, with the aux head (training)", with_aux.params, with_aux.mult_adds, here, True),
        CostFigure("this course, without the aux head (inference)", without.params, without.mult_adds, here, True),
        CostFigure("torchvision inception_v3, with the aux head", tv_aux.params, tv_aux.mult_adds, transcribed, True),
        CostFigure(
            "torchvision inception_v3, without the aux head", tv_plain.params, tv_plain.mult_adds, transcribed, True
        ),
        CostFigure("torchvision inception_v3 (num_params, _ops)", 27_161_264, 5.713e9, TORCHVISION_WEIGHTS, False),
        CostFigure("torchvision weights in timm (no aux head)", 23.8e6, 5.7e9, TIMM_CARD, False),
        CostFigure("the paper's network (Abstract)", 25e6, 5e9, f"{PAPER}, Abstract", False, "< "),
        CostFigure("GoogLeNet (Table 3)", None, 1.5e9, f"{PAPER}, Table 3 (cost column)", False),
        CostFigure(
            "BN-Inception",
            13.6e6,
            2.0e9,
            f"parameters: Ioffe & Szegedy 2015, Section 4.2; cost: {PAPER}, Table 3",
            False,
        ),
        CostFigure("Inception-v2 (Table 3)", None, 3.8e9, f"{PAPER}, Table 3 (cost column)", False),
        CostFigure("Inception-v3 (Table 3, last row)", None, 4.8e9, f"{PAPER}, Table 3 (cost column)", False),
    ]
