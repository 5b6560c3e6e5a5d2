"""Receptive fields measured by gradients: the theoretical field, as the input pixels where the
gradient of one unit is non-zero.

**The path probe.** With real weights a gradient can vanish on a path that exists: a ReLU that is
off, a max pool that picks another pixel, weights that cancel. To see every path, ``measure_boxes``
runs the model's own traced graph (every branch, fork and concatenation of its forward) with each
layer's *contents* replaced and its *geometry* kept: a convolution or pooling becomes a box filter
of the same kernel, stride, padding and dilation on the sum of its input channels, BatchNorm and
activations become the identity, and branches meeting are summed. Every weight is positive, so
no path can cancel, and the non-zero support of a unit's gradient is exactly the union of its
paths' windows. Summing channels keeps that union (a feature map's field is the union of its
channels' fields) and makes the probe a few thousand times cheaper than the network, in float64
so that the smallest corner contributions (products of ~40 factors of 1/7) stay far from underflow.
A measured box is the bounding box of that support; with dilation the support has holes, so at the
image border it may be smaller than the analytic box (the field's hull) clipped to the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...model.runtime import torch_threads
from .fields import Box, Unit
from .graph import module_nodes, trace, traced_root
from .operations import Merge, Opaque, Pointwise, equivalent_module, node_operation

# The probe's maps have a single channel, so extra threads only add wake-up latency (on a busy
# 2-core machine, ~15 ms per operation instead of microseconds): it runs on one.
PROBE_THREADS = 1


def _box_filter(module: nn.Module, x: Tensor) -> Tensor:
    """``module``'s window, as a positive box filter (an average) over the channel sum of ``x``."""
    if x.shape[1] > 1:
        x = x.sum(1, keepdim=True)
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return F.adaptive_avg_pool2d(x, module.output_size)
    if isinstance(module, (nn.ZeroPad2d, nn.ConstantPad2d)):
        return F.pad(x, module.padding)
    kernel = module.kernel_size
    stride = module.stride or kernel
    dilation = getattr(module, "dilation", 1)
    if dilation not in (1, (1, 1)):
        if getattr(module, "ceil_mode", False):
            raise ValueError(f"the path probe cannot run a dilated pooling in ceil mode ({module})")
        kernel = kernel if isinstance(kernel, tuple) else (kernel, kernel)
        weight = x.new_full((1, 1, *kernel), 1.0 / (kernel[0] * kernel[1]))
        return F.conv2d(x, weight, stride=stride, padding=module.padding, dilation=dilation)
    if isinstance(module, nn.Conv2d):
        # Zero-pad as the convolution would (its own rule, "same" included), then average: the
        # same windows as the convolution with every weight equal and positive.
        module = nn.Conv2d(1, 1, kernel, stride, module.padding, bias=False, device="meta")
        if any(module._reversed_padding_repeated_twice):
            x = F.pad(x, module._reversed_padding_repeated_twice)
        return F.avg_pool2d(x, kernel, stride)
    return F.avg_pool2d(x, kernel, stride, module.padding, module.ceil_mode, count_include_pad=True)


@dataclass(frozen=True)
class _Step:
    node: str
    inputs: tuple[str, ...]
    module: nn.Module | None  # the window to apply, or None to sum the inputs' channels


class PathProbe:
    """The path probe of a model: its traced graph reduced to box filters and sums (see the module
    docstring). Build it once, then call ``gradients`` as often as needed."""

    def __init__(self, model: nn.Module) -> None:
        graph, calls = trace(model)
        root, _ = traced_root(model)
        modules = dict(root.named_modules())
        placeholder = next(n for n in graph.nodes if n.op == "placeholder")
        self._image = placeholder.name
        self._alias: dict[str, str] = {placeholder.name: placeholder.name}  # node -> node holding its value
        self._steps: list[_Step] = []
        for node in graph.nodes:
            inputs = tuple(dict.fromkeys(self._alias[n.name] for n in node.all_input_nodes if n.name in self._alias))
            if node.op in ("placeholder", "output") or not inputs:
                continue
            operation = node_operation(node, modules)
            if isinstance(operation, Opaque):
                continue  # nothing past it has an analytic field either
            if isinstance(operation, Pointwise) or (isinstance(operation, Merge) and len(inputs) == 1):
                self._alias[node.name] = inputs[0]
                continue
            module = None if isinstance(operation, Merge) else equivalent_module(node, modules)
            self._steps.append(_Step(node.name, inputs, module))  # type: ignore[arg-type]
            self._alias[node.name] = node.name
        self.nodes = {
            name: self._alias[node.name] for name, node in module_nodes(calls).items() if node.name in self._alias
        }
        self._position = {step.node: i for i, step in enumerate(self._steps, start=1)} | {self._image: 0}

    def order(self, request: tuple[str, Unit]) -> tuple[int, Unit]:
        """Sort key of a request: where its feature map is computed, then the unit."""
        return self._position[self.nodes[request[0]]], request[1]

    def _run(self, image: Tensor, wanted: set[str]) -> dict[str, Tensor]:
        values = {self._image: image}
        for step in self._steps:
            if wanted <= values.keys():
                break
            inputs = [values[name] for name in step.inputs]
            if step.module is None:
                values[step.node] = sum(t.sum(1, keepdim=True) for t in inputs)  # type: ignore[assignment]
            else:
                values[step.node] = _box_filter(step.module, inputs[0])
        return values

    def gradients(self, input_size: int, requests: Sequence[tuple[str, Unit]]) -> Tensor:
        """Gradient of each requested unit (module name, (row, col); channels summed) with respect to
        an ``input_size x input_size`` input: a (len(requests), H, W) float64 tensor.

        One forward and one backward in all: each distinct (feature map, unit) reads its own batch
        element (modules returning the same map, such as a convolution and its BatchNorm, share it).
        """
        for name, _ in requests:
            if name not in self.nodes:
                raise ValueError(f"no module {name!r} with a receptive field; e.g. {list(self.nodes)[:4]}")
        keys = [(self.nodes[name], tuple(unit)) for name, unit in requests]
        distinct = list(dict.fromkeys(keys))
        image = torch.ones(len(distinct), 1, input_size, input_size, dtype=torch.float64, requires_grad=True)
        with torch.enable_grad(), torch_threads(PROBE_THREADS):
            values = self._run(image, {node for node, _ in distinct})
            seeds: dict[str, Tensor] = {}
            for k, (node, (row, col)) in enumerate(distinct):
                out = values[node]
                if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
                    raise ValueError(f"unit ({row}, {col}) is outside a {out.shape[2]}x{out.shape[3]} grid")
                seeds.setdefault(node, torch.zeros_like(out))[k, :, row, col] = 1.0
            (gradient,) = torch.autograd.grad([values[n] for n in seeds], image, list(seeds.values()))
        index = {key: k for k, key in enumerate(distinct)}
        return gradient[[index[key] for key in keys], 0]


def _supports(gradients: Tensor) -> list[Box | None]:
    """Bounding box of the non-zero pixels of each (H, W) map in a batch (None for an all-zero map)."""
    nonzero = (gradients != 0).numpy()
    boxes: list[Box | None] = []
    for rows, cols in zip(nonzero.any(axis=2), nonzero.any(axis=1), strict=True):
        if not rows.any():
            boxes.append(None)
            continue
        top, bottom = np.flatnonzero(rows)[[0, -1]]
        left, right = np.flatnonzero(cols)[[0, -1]]
        boxes.append(Box(int(top), int(left), int(bottom), int(right)))
    return boxes


def measure_boxes(
    model: nn.Module, input_size: int, requests: Sequence[tuple[str, Unit]], chunk: int = 96
) -> list[Box | None]:
    """The measured field of each requested (module name, unit): the bounding box of the input
    pixels where its path-probe gradient is non-zero (None if nowhere).

    Requests that read the same feature map and unit are measured once; the rest run ``chunk``
    at a time in graph order, so a chunk of early layers stops the probe early.
    """
    probe = PathProbe(model)
    distinct = sorted(dict.fromkeys((name, tuple(unit)) for name, unit in requests), key=probe.order)
    found: dict[tuple[str, Unit], Box | None] = {}
    for begin in range(0, len(distinct), chunk):
        part = distinct[begin : begin + chunk]
        found.update(zip(part, _supports(probe.gradients(input_size, part)), strict=True))  # type: ignore[arg-type]
    return [found[(name, tuple(unit))] for name, unit in requests]  # type: ignore[index]
