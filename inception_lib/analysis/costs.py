"""What layers cost: parameters and mult-adds per module, per branch and per stage.

Every number comes from ``nn.Module`` objects traced by torchinfo (``shapes.trace``), never from a
formula typed a second time.

>>> cost(InceptionModuleF5(), (288, 35, 35))            # Cost(params=236000, mult_adds=287885792)
>>> stage_costs(trace(InceptionV2(num_classes=3), (3, 299, 299)))["mixed_6"]

Mult-adds follow torchinfo's convention: a convolution performs one multiply-add per weight per
output position; BatchNorm and linear layers count one per parameter. For a bare convolution that
is exactly the textbook count (kernel area × input channels × output channels × output positions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from ..model import InceptionBlock, InceptionV2
from .shapes import LayerRow, stage_names, trace


@dataclass(frozen=True)
class Cost:
    """Parameters and mult-adds of some layers for one input (batch of 1)."""

    params: int
    mult_adds: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.mult_adds + other.mult_adds)


ZERO = Cost(0, 0)


def row_cost(row: LayerRow) -> Cost:
    """The cost of one traced module (everything inside it included)."""
    return Cost(row.params, row.mult_adds)


def cost(module: nn.Module, input_shape: Sequence[int], **forward_kwargs: object) -> Cost:
    """Parameters and mult-adds of ``module`` run on one ``input_shape`` (C, H, W) input."""
    return row_cost(trace(module, input_shape, **forward_kwargs)[0])


def branch_costs(block: InceptionBlock, input_shape: Sequence[int]) -> dict[str, Cost]:
    """Cost of each branch of ``block`` in concatenation order; a forked branch (F7) includes its arms.

    The branches are everything the block holds, so the values add up to ``cost(block, ...)``.
    """
    if not isinstance(block, InceptionBlock):
        raise ValueError(f"expected an InceptionBlock (F5, F6, F7, GridReduction), got {type(block).__name__}")
    rows = {r.name: r for r in trace(block, input_shape)}
    return {
        name: sum((row_cost(rows[part]) for part in (name, *block.forks.get(name, ()))), ZERO)
        for name, _ in block.named_branches()
    }


def stage_costs(rows: Sequence[LayerRow]) -> dict[str, Cost]:
    """Cost per stage of a traced ``InceptionV2`` (``trace(model, ...)``), in execution order.

    Stages: stem, mixed_5, reduction_1, mixed_6, aux (when it ran), reduction_2, mixed_7, and the
    classifier (pool, dropout, linear). Together they are the whole network.
    """
    by_name = {r.name: r for r in rows}
    if "features.stem" not in by_name:
        raise ValueError("rows must come from trace(model, ...) of an InceptionV2 (no 'features.stem' row)")
    found = {name.removeprefix("features."): row_cost(by_name[name]) for name in stage_names() if name in by_name}
    head = [row_cost(r) for r in rows if r.depth == 1 and r.name != "features"]
    found["classifier"] = sum(head, ZERO)
    return found


def inference_mult_adds(model: nn.Module, size: int = 299) -> int:
    """Mult-adds of one eval-mode forward pass on a ``size``×``size`` image: for an ``InceptionV2``
    without the auxiliary head, which runs only in training."""
    kwargs = {"with_aux": False} if isinstance(model, InceptionV2) else {}
    return cost(model, (3, size, size), **kwargs).mult_adds
