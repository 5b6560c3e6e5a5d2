"""Networks written down as layer lists, and what they cost: torchvision's ``inception_v3`` as data.

torchvision is not a dependency of this course, so its Inception-v3 cannot be built here. Its
layers can still be written down: ``torchvision_inception_v3()`` transcribes every convolution,
pool and linear layer of ``Inception3`` in pytorch/vision's ``torchvision/models/inception.py``
(widths, kernels, strides, paddings, branch order), and ``run_block`` walks such a description to
get shapes, parameters and mult-adds with the same conventions as ``costs.cost`` (torchinfo's).
The transcription is checked against torchvision's own published figures: at 1000 classes it
gives exactly the ``num_params`` of its weights' metadata (27,161,264) and, without the auxiliary
head, the mult-adds of its ``_ops`` (5.713 G); ``tests/test_lineage.py`` asserts both, and that the
interpreter agrees with torchinfo on this course's modules.

>>> net = torchvision_inception_v3()
>>> net.cost(with_aux=True).params          # 27161264
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..model.geometry import Pair, pair, window_output_length
from .costs import ZERO, Cost

# Where the transcription comes from (the file's Inception3 and its blocks; the parameter count
# and ``_ops`` are in the same file's ``Inception_V3_Weights.IMAGENET1K_V1`` metadata).
TORCHVISION_SOURCE = "pytorch/vision, torchvision/models/inception.py (class Inception3)"


@dataclass(frozen=True)
class Conv:
    """A ``BasicConv2d``: convolution without bias, BatchNorm, ReLU (as both torchvision and this course write it)."""

    out: int
    kernel: Pair
    stride: int = 1
    padding: Pair = (0, 0)


@dataclass(frozen=True)
class Pool:
    """Max or average pooling over a square window."""

    kind: str  # "max" or "avg"
    kernel: int
    stride: int
    padding: int = 0


@dataclass(frozen=True)
class Fork:
    """Parallel arms applied to the same tensor and concatenated (module F7, torchvision's InceptionE)."""

    arms: tuple[tuple[Step, ...], ...]


@dataclass(frozen=True)
class Linear:
    """Global average pooling, flatten, then a fully connected layer with ``out`` outputs."""

    out: int


Step = Conv | Pool | Fork | Linear


def conv(out: int, kernel: int | Pair, stride: int = 1, padding: int | Pair = 0) -> Conv:
    """``Conv`` with square kernels and paddings written as one number."""
    return Conv(out, pair(kernel), stride, pair(padding))


@dataclass(frozen=True)
class SpecBlock:
    """One named block: parallel branches from the same input, concatenated along channels
    (a plain layer is a block with one branch of one step)."""

    name: str  # the attribute's name in the network, e.g. "Mixed_5b"
    cls: str  # its class there, e.g. "InceptionA"
    branches: tuple[tuple[Step, ...], ...]

    def steps(self) -> Iterator[Step]:
        """Every step of every branch and fork arm, in order."""
        yield from _flatten(step for branch in self.branches for step in branch)


def _flatten(steps: Iterator[Step] | Sequence[Step]) -> Iterator[Step]:
    for step in steps:
        if isinstance(step, Fork):
            yield from _flatten(s for arm in step.arms for s in arm)
        else:
            yield step


@dataclass(frozen=True)
class BlockResult:
    """What a block produces for one input (batch of 1)."""

    input_shape: tuple[int, ...]
    shape: tuple[int, ...]  # (C, H, W), or (features,) after a Linear
    cost: Cost
    branch_channels: tuple[int, ...]  # each branch's output channels, in concatenation order


def _window(length: int, kernel: int, stride: int, padding: int, what: str) -> int:
    out = window_output_length(length, kernel, stride, padding, padding)
    if out == 0:
        raise ValueError(f"{what}: a {length}-pixel side is too small for a {kernel}-wide window")
    return out


def _run_steps(steps: Sequence[Step], shape: tuple[int, ...]) -> tuple[tuple[int, ...], Cost]:
    total = ZERO
    for step in steps:
        if isinstance(step, Linear):
            weights = shape[0] * step.out + step.out
            shape, total = (step.out,), total + Cost(weights, weights)
            continue
        channels, height, width = shape
        if isinstance(step, Conv):
            height = _window(height, step.kernel[0], step.stride, step.padding[0], f"{step}")
            width = _window(width, step.kernel[1], step.stride, step.padding[1], f"{step}")
            weights = channels * step.out * step.kernel[0] * step.kernel[1]
            bn = 2 * step.out  # BatchNorm's scale and shift; torchinfo counts one mult-add per parameter
            shape = (step.out, height, width)
            total += Cost(weights + bn, weights * height * width + bn)
        elif isinstance(step, Pool):
            height = _window(height, step.kernel, step.stride, step.padding, f"{step}")
            width = _window(width, step.kernel, step.stride, step.padding, f"{step}")
            shape = (channels, height, width)
        else:
            shape, cost = _concat([_run_steps(arm, shape) for arm in step.arms])
            total += cost
    return shape, total


def _concat(outputs: Sequence[tuple[tuple[int, ...], Cost]]) -> tuple[tuple[int, ...], Cost]:
    grids = {shape[1:] for shape, _ in outputs}
    if len(grids) != 1:
        raise ValueError(f"parallel branches end on different grids {sorted(grids)}; they cannot be concatenated")
    channels = sum(shape[0] for shape, _ in outputs)
    return (channels, *grids.pop()), sum((cost for _, cost in outputs), ZERO)


def run_block(block: SpecBlock, input_shape: Sequence[int]) -> BlockResult:
    """Shape, parameters and mult-adds of ``block`` for one input of ``input_shape`` (C, H, W)."""
    outputs = [_run_steps(branch, tuple(input_shape)) for branch in block.branches]
    shape, cost = _concat(outputs)
    return BlockResult(tuple(input_shape), shape, cost, tuple(out[0] for out, _ in outputs))


@dataclass(frozen=True)
class SpecNetwork:
    """A whole network as blocks: the trunk in execution order, an auxiliary head reading the
    output of ``aux_after``, and the classifier head."""

    name: str
    source: str
    trunk: tuple[SpecBlock, ...]
    aux: SpecBlock
    aux_after: str
    head: tuple[SpecBlock, ...]
    dropout: float  # the classifier's dropout probability

    def run(self, size: int = 299) -> list[tuple[SpecBlock, BlockResult]]:
        """Every block with its result for a ``size``×``size`` RGB image, in execution order; the
        auxiliary head comes right after the block it reads."""
        shape: tuple[int, ...] = (3, size, size)
        results = []
        for block in (*self.trunk, *self.head):
            result = run_block(block, shape)
            results.append((block, result))
            if block.name == self.aux_after:
                results.append((self.aux, run_block(self.aux, result.shape)))
            shape = result.shape
        return results

    def cost(self, with_aux: bool, size: int = 299) -> Cost:
        """Parameters and mult-adds of the whole network, with or without the auxiliary head."""
        return sum((r.cost for b, r in self.run(size) if with_aux or b is not self.aux), ZERO)


# --- torchvision's Inception3, transcribed from torchvision/models/inception.py ---


def _inception_a(pool_features: int) -> tuple[tuple[Step, ...], ...]:
    """InceptionA: branch1x1, branch5x5 (a real 5×5), branch3x3dbl, branch_pool (average pool)."""
    return (
        (conv(64, 1),),
        (conv(48, 1), conv(64, 5, padding=2)),
        (conv(64, 1), conv(96, 3, padding=1), conv(96, 3, padding=1)),
        (Pool("avg", 3, 1, 1), conv(pool_features, 1)),
    )


def _inception_c(c7: int) -> tuple[tuple[Step, ...], ...]:
    """InceptionC: branch1x1, branch7x7 (1×7, 7×1), branch7x7dbl (7×1, 1×7, 7×1, 1×7), branch_pool."""
    row, col = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
    return (
        (conv(192, 1),),
        (conv(c7, 1), conv(c7, **row), conv(192, **col)),
        (conv(c7, 1), conv(c7, **col), conv(c7, **row), conv(c7, **col), conv(192, **row)),
        (Pool("avg", 3, 1, 1), conv(192, 1)),
    )


def _inception_e() -> tuple[tuple[Step, ...], ...]:
    """InceptionE: branch1x1, branch3x3 (1×1 then 1×3 ∥ 3×1), branch3x3dbl (1×1, 3×3, then 1×3 ∥ 3×1), branch_pool."""
    fork = Fork(((conv(384, (1, 3), padding=(0, 1)),), (conv(384, (3, 1), padding=(1, 0)),)))
    return (
        (conv(320, 1),),
        (conv(384, 1), fork),
        (conv(448, 1), conv(384, 3, padding=1), fork),
        (Pool("avg", 3, 1, 1), conv(192, 1)),
    )


def torchvision_inception_v3(num_classes: int = 1000) -> SpecNetwork:
    """torchvision's ``Inception3`` (``inception_v3``) layer by layer, as its source defines it."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")

    def layer(name: str, step: Step) -> SpecBlock:
        return SpecBlock(name, "MaxPool2d" if isinstance(step, Pool) else "BasicConv2d", ((step,),))

    stem = (
        layer("Conv2d_1a_3x3", conv(32, 3, stride=2)),
        layer("Conv2d_2a_3x3", conv(32, 3)),
        layer("Conv2d_2b_3x3", conv(64, 3, padding=1)),
        layer("maxpool1", Pool("max", 3, 2)),
        layer("Conv2d_3b_1x1", conv(80, 1)),
        layer("Conv2d_4a_3x3", conv(192, 3)),
        layer("maxpool2", Pool("max", 3, 2)),
    )
    mixed_5 = tuple(
        SpecBlock(f"Mixed_5{s}", "InceptionA", _inception_a(p)) for s, p in zip("bcd", (32, 64, 64), strict=True)
    )
    mixed_6a = SpecBlock(
        "Mixed_6a",
        "InceptionB",
        ((conv(384, 3, stride=2),), (conv(64, 1), conv(96, 3, padding=1), conv(96, 3, stride=2)), (Pool("max", 3, 2),)),
    )
    mixed_6 = tuple(
        SpecBlock(f"Mixed_6{s}", "InceptionC", _inception_c(c))
        for s, c in zip("bcde", (128, 160, 160, 192), strict=True)
    )
    seven = {"kernel": (1, 7), "padding": (0, 3)}, {"kernel": (7, 1), "padding": (3, 0)}
    mixed_7a = SpecBlock(
        "Mixed_7a",
        "InceptionD",
        (
            (conv(192, 1), conv(320, 3, stride=2)),
            (conv(192, 1), conv(192, **seven[0]), conv(192, **seven[1]), conv(192, 3, stride=2)),
            (Pool("max", 3, 2),),
        ),
    )
    mixed_7 = tuple(SpecBlock(f"Mixed_7{s}", "InceptionE", _inception_e()) for s in "bc")
    aux = SpecBlock(
        "AuxLogits", "InceptionAux", ((Pool("avg", 5, 3), conv(128, 1), conv(768, 5), Linear(num_classes)),)
    )
    return SpecNetwork(
        name="torchvision inception_v3",
        source=TORCHVISION_SOURCE,
        trunk=(*stem, *mixed_5, mixed_6a, *mixed_6, mixed_7a, *mixed_7),
        aux=aux,
        aux_after="Mixed_6e",
        head=(SpecBlock("fc", "Linear", ((Linear(num_classes),),)),),
        dropout=0.5,  # Inception3(dropout=0.5): nn.Dropout(p=dropout) before fc
    )
