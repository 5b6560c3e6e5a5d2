"""Is a module you wrote the same as the library's? Same weights, same layers, same output.

``load_in_order`` copies a reference module's parameters and buffers into yours tensor by tensor
in registration order, so your attributes may be named as you like; ``compare`` then checks the
parameter count, every weighted layer's input and output shape (from ``shapes.trace``) and the
output itself, bit for bit (``torch.equal``) in eval mode.

>>> load_in_order(mine, model.features.mixed_5[0])
>>> compare(mine, model.features.mixed_5[0], (288, 35, 35)).ok     # True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..model.runtime import evaluating
from .shapes import LayerRow, leaf_rows, trace


def load_in_order(target: nn.Module, source: nn.Module) -> nn.Module:
    """Copy ``source``'s state (parameters and BatchNorm statistics) into ``target``, entry by entry
    in registration order. Names may differ; the number of entries and their shapes may not."""
    ours, theirs = target.state_dict(), source.state_dict()
    if len(ours) != len(theirs):
        raise ValueError(
            f"{type(target).__name__} has {len(ours)} state entries, {type(source).__name__} has {len(theirs)}: "
            "they are not built from the same layers"
        )
    for (name, mine), (their_name, tensor) in zip(ours.items(), theirs.items(), strict=True):
        if mine.shape != tensor.shape:
            raise ValueError(
                f"{name} has shape {tuple(mine.shape)} but {their_name}, in the same place, has {tuple(tensor.shape)}: "
                "check the layer's channels and kernel, and that layers are created in the same order"
            )
    target.load_state_dict(dict(zip(ours, theirs.values(), strict=True)))
    return target


def weighted_layers(module: nn.Module, input_shape: Sequence[int]) -> list[LayerRow]:
    """Every executed layer that holds weights (convolutions, BatchNorms, linear layers), in the order
    the module registers them (the order ``load_in_order`` pairs them in), with its traced shapes."""
    leaves = [r for r in leaf_rows(trace(module, input_shape)) if r.name and r.params]
    order = {name: i for i, (name, _) in enumerate(module.named_modules())}
    return sorted(leaves, key=lambda r: order[r.name])


def _layer(row: LayerRow) -> str:
    return f"{row.name} ({row.type} {'×'.join(map(str, row.input_shape))} → {'×'.join(map(str, row.output_shape))})"


@dataclass(frozen=True)
class Parity:
    """The outcome of ``compare``."""

    name: str
    params: tuple[int, int]  # (yours, the reference's)
    layers: int  # weighted layers compared
    first_mismatch: str | None  # the first layer whose type or shapes differ, or None
    same_output: bool  # torch.equal on the test batch, in eval mode
    max_difference: float

    @property
    def ok(self) -> bool:
        return self.params[0] == self.params[1] and self.first_mismatch is None and self.same_output

    def __str__(self) -> str:
        yours, ref = self.params
        count = f"{yours:,} parameters in both" if yours == ref else f"{yours:,} parameters, the library has {ref:,}"
        shapes = f"all {self.layers} weighted layers alike" if self.first_mismatch is None else self.first_mismatch
        output = (
            "the same output (torch.equal)"
            if self.same_output
            else f"outputs differ by up to {self.max_difference:.3g}"
        )
        return f"{self.name}: {count}; {shapes}; {output}"


def compare(
    yours: nn.Module, reference: nn.Module, input_shape: Sequence[int], batch: int = 2, seed: int = 0
) -> Parity:
    """Compare ``yours`` with ``reference`` on inputs of ``input_shape`` (C, H, W): parameter count,
    weighted layers (type, input and output shape) and the output on ``batch`` random inputs in eval
    mode. Load the weights first (``load_in_order``) for the outputs to match. Neither module's
    train/eval mode is changed."""
    count = (sum(p.numel() for p in yours.parameters()), sum(p.numel() for p in reference.parameters()))
    mine, theirs = weighted_layers(yours, input_shape), weighted_layers(reference, input_shape)
    mismatch = None
    for a, b in zip(mine, theirs, strict=False):
        if (a.type, a.input_shape, a.output_shape) != (b.type, b.input_shape, b.output_shape):
            mismatch = f"{_layer(a)} here, {_layer(b)} in the library"
            break
    if mismatch is None and len(mine) != len(theirs):
        mismatch = f"{len(mine)} weighted layers here, {len(theirs)} in the library"
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad(), evaluating(yours), evaluating(reference):
        out, expected = yours(x), reference(x)
    same = out.shape == expected.shape and torch.equal(out, expected)
    gap = float((out - expected).abs().max()) if out.shape == expected.shape else float("inf")
    return Parity(type(yours).__name__, count, len(theirs), mismatch, same, gap)
