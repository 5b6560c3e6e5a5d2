"""Receptive fields measured by gradients: the theoretical field (where the gradient of one unit
with respect to the input is non-zero) and the *effective* field of Luo, Li, Urtasun & Zemel,
"Understanding the Effective Receptive Field in Deep Convolutional Neural Networks" (NIPS 2016):
how the gradient's magnitude is spread inside it.

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

**Effective fields.** ``effective_receptive_field`` averages |d unit / d input| over images with the
model's real weights; ``EffectiveField.area_share`` is the share of the theoretical field holding 95%
of it. For trained weights, ``small_inception`` (the same blocks in miniature) is trained on the
generated shapes by ``train_small_inception``; ``trained_small_inception`` loads the shipped result.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn

from .blocks import BasicConv2d
from .datasets import ShapesDataset
from .model import init_weights
from .modules import GridReduction, InceptionModuleF5, InceptionModuleF6
from .receptive_field import (
    Box,
    Merge,
    Opaque,
    Pointwise,
    analytic_receptive_fields,
    equivalent_module,
    module_nodes,
    node_operation,
    trace,
    traced_root,
)

Unit = tuple[int, int]


# --- the path probe: theoretical fields by gradient ---------------------------------------------


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


def _one_thread(method: Callable) -> Callable:
    """Run with one intra-op thread: the probe's maps have a single channel, so extra threads only
    add wake-up latency (on a busy 2-core machine, ~15 ms per operation instead of microseconds)."""

    @functools.wraps(method)
    def wrapper(*args: object, **kwargs: object) -> object:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper


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

    @_one_thread
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
        with torch.enable_grad():
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


@_one_thread
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


# --- effective receptive fields (Luo et al., 2016) ---------------------------------------------


class _Stop(Exception):
    """Raised by a forward hook once the layer of interest has run: the rest is not needed."""


@dataclass(frozen=True)
class EffectiveField:
    """Mean |d unit / d input| over random inputs (channels summed), with the theoretical field.

    ``gradient`` is an (H, W) array scaled so its sum is 1; ``theoretical`` is the analytic field
    of ``unit`` clipped to the image.
    """

    name: str
    unit: Unit
    gradient: np.ndarray
    theoretical: Box

    def area_share(self, mass: float = 0.95) -> float:
        """Pixels needed to hold ``mass`` of the gradient (largest first), over the theoretical
        field's area (inside the image): Luo et al.'s observation is that this is small."""
        if not 0 < mass <= 1:
            raise ValueError(f"mass must be in (0, 1], got {mass}")
        ordered = np.sort(self.gradient.ravel())[::-1]
        needed = int(np.searchsorted(np.cumsum(ordered), mass * ordered.sum())) + 1
        return needed / (self.theoretical.height * self.theoretical.width)

    def spread(self) -> tuple[float, float]:
        """Standard deviation of the gradient mass along (height, width), in pixels."""
        rows, cols = np.indices(self.gradient.shape)
        weights = self.gradient / self.gradient.sum()
        return tuple(float(np.sqrt((weights * (c - (weights * c).sum()) ** 2).sum())) for c in (rows, cols))  # type: ignore[return-value]


def effective_receptive_field(
    model: nn.Module,
    name: str,
    input_size: int = 299,
    unit: Unit | None = None,
    samples: int = 4,
    seed: int = 0,
    in_channels: int = 3,
    images: Tensor | None = None,
) -> EffectiveField:
    """The effective receptive field of ``unit`` (default: the grid's centre) of module ``name``,
    with the model's own weights in eval mode, averaged over ``images`` (N, C, H, W) or, by
    default, over ``samples`` standard-normal images of ``input_size`` drawn from ``seed``."""
    root, prefix = traced_root(model)
    if not name.startswith(prefix):
        raise ValueError(f"module names of a {type(model).__name__} start with {prefix!r}, got {name!r}")
    module = root.get_submodule(name[len(prefix) :])
    if images is None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.randn(samples, in_channels, input_size, input_size, generator=generator)
    elif images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    height, width = images.shape[2:]
    field = analytic_receptive_fields(model, (height, width))[name]
    unit = unit or (field.grid[0] // 2, field.grid[1] // 2)
    theoretical = field.box(*unit).clip(height, width)
    if theoretical is None:
        raise ValueError(f"unit {unit} of {name} sees only padding; choose a unit whose field meets the image")
    image = images.detach().clone().requires_grad_()
    captured: list[Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        captured.append(output)
        raise _Stop

    handle = module.register_forward_hook(keep)
    was_training = root.training
    root.eval()
    try:
        with torch.enable_grad():
            with contextlib.suppress(_Stop):
                root(image)
            (gradient,) = torch.autograd.grad(captured[0][:, :, unit[0], unit[1]].sum(), image)
    finally:
        handle.remove()
        root.train(was_training)
    magnitude = gradient.abs().sum(dim=1).mean(dim=0).double().numpy()
    return EffectiveField(name, unit, magnitude / magnitude.sum(), theoretical)


def _outline(ax: Axes, box: Box, **style: object) -> None:
    ax.add_patch(Rectangle((box.left - 0.5, box.top - 0.5), box.width, box.height, fill=False, **style))


def support_figure(gradients: Tensor, boxes: Sequence[Box | None], titles: Sequence[str]) -> Figure:
    """Analytic against measured: each path-probe gradient map (log scale; white where zero) with
    the analytic field clipped to the image (yellow outline)."""
    fig = Figure(figsize=(3.1 * len(titles), 3.3))
    for ax, gradient, box, title in zip(
        fig.subplots(1, len(titles), squeeze=False)[0], gradients, boxes, titles, strict=True
    ):
        values = gradient.numpy()
        shown = np.where(values > 0, np.log10(np.where(values > 0, values, 1)), np.nan)
        ax.imshow(shown, cmap="viridis", interpolation="nearest")
        if box is not None:
            _outline(ax, box, edgecolor="#f5c400", lw=1.5)
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def erf_figure(fields: Sequence[EffectiveField], titles: Sequence[str], mass: float = 0.95) -> Figure:
    """Effective receptive fields: each gradient-magnitude map around its theoretical field
    (yellow outline), with the share of the field holding ``mass`` of the gradient."""
    fig = Figure(figsize=(3.1 * len(titles), 3.5))
    for ax, erf, title in zip(fig.subplots(1, len(titles), squeeze=False)[0], fields, titles, strict=True):
        box = erf.theoretical
        pad = max(2, box.height // 10)
        top, left = max(box.top - pad, 0), max(box.left - pad, 0)
        crop = erf.gradient[top : box.bottom + pad + 1, left : box.right + pad + 1]
        ax.imshow(
            crop / crop.max(),
            cmap="magma",
            interpolation="nearest",
            extent=(left - 0.5, left + crop.shape[1] - 0.5, top + crop.shape[0] - 0.5, top - 0.5),
        )
        _outline(ax, box, edgecolor="#f5c400", lw=1.2)
        ax.set_title(
            f"{title}\n{100 * mass:.0f}% of |grad| in {100 * erf.area_share(mass):.1f}% of the field", fontsize=8
        )
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


# --- a small Inception to train in seconds: the "trained weights" of the comparison ------------

SMALL_IMAGE_SIZE = 64


def small_inception(num_classes: int = 3, seed: int = 0) -> nn.Sequential:
    """Inception V2 in miniature, from the same blocks: a two-layer stem and max pool, one F5, one
    grid reduction, one F6 (1x7 / 7x1), global pooling and a classifier. About 0.1 M parameters,
    so it trains on the generated shapes in minutes on a CPU; weights initialised as the big
    model's (``init_weights``), drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):  # layer constructors must not touch the global stream
        model = nn.Sequential(
            BasicConv2d(3, 16, 3, stride=2),
            BasicConv2d(16, 32, 3),
            nn.MaxPool2d(3, stride=2),
            InceptionModuleF5(32, double_3x3=(16, 24), single_3x3=(16, 24), pool_proj=16, conv_1x1=16),
            GridReduction(80, double_3x3=(16, 32), single_3x3=(16, 32)),
            InceptionModuleF6(144, width=32, n=7, out_branch=48),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(192, num_classes),
        )
    init_weights(model, seed)
    return model


# Made by train_small_inception(small_inception(seed=0), steps=SMALL_CHECKPOINT_STEPS) on one CPU
# thread (about 15 minutes on a busy 2-core machine); it gets 300 of 300 fresh shapes right.
# Shipped (0.5 MB) because training takes far longer than a notebook may.
SMALL_CHECKPOINT = "small_inception_shapes.pt"
SMALL_CHECKPOINT_STEPS = 1500


def trained_small_inception() -> nn.Sequential:
    """``small_inception(seed=0)`` with the weights of the shipped checkpoint (see ``SMALL_CHECKPOINT``)."""
    model = small_inception(seed=0)
    path = resources.files("inception_lib") / "data" / "checkpoints" / SMALL_CHECKPOINT
    with resources.as_file(path) as file:
        model.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    return model.eval()


def train_small_inception(
    model: nn.Module, steps: int, batch_size: int = 32, lr: float = 3e-3, seed: int = 0
) -> list[float]:
    """Train ``model`` on freshly generated shapes (``ShapesDataset``, a new batch every step) with
    Adam and a cosine learning-rate decay; returns the loss of every step. Deterministic for a seed."""
    if steps < 1 or batch_size < 2:
        raise ValueError(f"need steps >= 1 and batch_size >= 2 (BatchNorm), got {steps} and {batch_size}")
    data = ShapesDataset(steps * batch_size, image_size=SMALL_IMAGE_SIZE, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses = []
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout or other randomness in the model, if any
        for step in range(steps):
            images, labels = zip(*(data[i] for i in range(step * batch_size, (step + 1) * batch_size)), strict=True)
            loss = F.cross_entropy(model(torch.stack(images)), torch.tensor(labels))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
    model.eval()
    return losses


def accuracy(model: nn.Module, count: int = 300, seed: int = 1) -> float:
    """Share of ``count`` generated shapes (``seed`` different from training's) classified right."""
    data = ShapesDataset(count, image_size=SMALL_IMAGE_SIZE, seed=seed)
    images = torch.stack([data[i][0] for i in range(count)])
    labels = torch.tensor([data.label(i) for i in range(count)])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        correct = (model(images).argmax(dim=1) == labels).float().mean().item()
    model.train(was_training)
    return correct
