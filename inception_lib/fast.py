"""The inference fast path: BatchNorm folded into the convolutions, channels-last memory, bfloat16
autocast and ``torch.compile`` — and the measurements that tell whether each one pays.

Every ``BasicConv2d`` computes ``relu(bn(conv(x)))``. At inference BatchNorm is a fixed per-channel
affine map, ``y = γ (z − μ) / σ + β`` with ``σ = sqrt(running_var + eps)``, so it can be baked into
the convolution before it: ``W' = W · γ/σ`` (per output channel) and ``b' = β − γ μ / σ``. One
pass over memory instead of two, and the BatchNorm parameters disappear.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .blocks import BasicConv2d
from .model import InceptionV2
from .shapes import html_bar
from .summary import summarize

# Largest |fast − eager| allowed, as a fraction of the largest |eager logit|. fp32 differs only by
# the rounding of the reordered arithmetic; bfloat16 keeps 8 significant bits (≈ 0.4 % per value),
# and the errors of ~100 layers add up.
FP32_TOLERANCE = 1e-4
BF16_TOLERANCE = 5e-2


def _require_eval(model: nn.Module, what: str) -> None:
    if model.training:
        raise ValueError(
            f"{what} needs a model in eval mode (call model.eval() first): folding bakes BatchNorm's "
            "running statistics into the convolutions, while training mode normalises with each batch's "
            "own statistics"
        )


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every ``BasicConv2d``'s BatchNorm folded into its convolution.

    The folded convolution gains a bias ``b'`` and the BatchNorm becomes ``nn.Identity``. The
    caller's model is not changed; it must be in eval mode (``ValueError`` otherwise).
    """
    _require_eval(model, "fold_batchnorm")
    folded = copy.deepcopy(model)
    for block in folded.modules():
        if isinstance(block, BasicConv2d) and isinstance(block.bn, nn.BatchNorm2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = nn.Identity()
    return folded


def randomize_batchnorm_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters, in place; returns ``model``.

    A freshly initialised network has μ = 0, σ² = 1, γ = 1, β = 0, where folding changes almost
    nothing and a wrong formula would go unnoticed. Values stay near those of a trained network.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in model.modules():
            if isinstance(bn, nn.BatchNorm2d):
                c = bn.num_features
                bn.running_mean.copy_(0.2 * torch.randn(c, generator=generator))
                bn.running_var.copy_(0.5 + 1.5 * torch.rand(c, generator=generator))
                bn.weight.copy_(0.5 + torch.rand(c, generator=generator))
                bn.bias.copy_(0.2 * torch.randn(c, generator=generator))
    return model


class InferenceModel(nn.Module):
    """Runs ``model`` for inference: no autograd, optional channels-last input, optional bf16 autocast.

    Wraps without copying; build one with ``optimize_for_inference``. Returns float32 logits
    whatever the compute precision, so callers compare and post-process as usual.
    """

    def __init__(self, model: nn.Module, *, channels_last: bool = False, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.channels_last = channels_last
        self.bf16 = bf16

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            return self.model(x).float()


def optimize_for_inference(
    model: nn.Module,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    bf16: bool = False,
    compile: bool = False,
) -> InferenceModel:
    """A fast inference copy of an eval-mode ``model``; the caller's model is left untouched.

    ``fold_bn``: fold each BatchNorm into its convolution. ``channels_last``: store weights and
    activations as N×H×W×C, the layout oneDNN's convolutions run fastest on. ``bf16``: compute
    under bfloat16 autocast (fast where the CPU has AVX-512 BF16 or AMX; looser accuracy, see
    ``BF16_TOLERANCE``). ``compile``: ``torch.compile`` with inductor and weight freezing (the
    first call compiles, tens of seconds cold; set ``TORCHINDUCTOR_CACHE_DIR`` to keep the cache).
    Raises ``ValueError`` for a model in training mode.
    """
    _require_eval(model, "optimize_for_inference")
    fast = fold_batchnorm(model) if fold_bn else copy.deepcopy(model)
    if channels_last:
        fast = fast.to(memory_format=torch.channels_last)
    if compile:
        # Freezing turns the weights into constants, so inductor can pre-pack them for oneDNN and
        # fuse each ReLU into its convolution; it applies only under no_grad, which InferenceModel sets.
        fast = torch.compile(fast, options={"freezing": True}, dynamic=False)
    return InferenceModel(fast, channels_last=channels_last, bf16=bf16)


def relative_error(output: Tensor, reference: Tensor) -> float:
    """``max |output − reference|`` as a fraction of ``max |reference|`` (the logit scale)."""
    return ((output.float() - reference.float()).abs().max() / reference.float().abs().max()).item()


# --- measuring ---


def measure_interleaved(
    runs: Mapping[str, Callable[[], object]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each run, measured in interleaved rounds (A B C, B C A, C A B, ...).

    Interleaving spreads a slow spell of a shared machine over every contender instead of one;
    rotating the order keeps any one of them from always running first (cold caches) or last.
    ``warmup`` untimed calls each come first (oneDNN builds its kernels on the first call).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def inference_mult_adds(model: nn.Module, size: int = 299) -> int:
    """Mult-adds of one eval-mode forward pass on a ``size``×``size`` image, counted by torchinfo.

    ``summarize`` runs the auxiliary head (to show every row); eval-mode inference skips it, so it is
    counted on a copy without the head.
    """
    counted = copy.deepcopy(model).eval()
    if isinstance(counted, InceptionV2):
        counted.features.aux = None
    return summarize(counted, (1, 3, size, size), depth=1).total_mult_adds


class FastSettings(NamedTuple):
    """One combination of the fast path's switches (``torch.compile`` aside)."""

    fold_bn: bool
    channels_last: bool
    bf16: bool

    @property
    def label(self) -> str:
        parts = [name for name, on in zip(("fold", "NHWC", "bf16"), self, strict=True) if on]
        return "+".join(parts) or "eager"


EAGER = FastSettings(False, False, False)
ALL_SETTINGS = tuple(FastSettings(f, c, b) for b in (False, True) for f in (False, True) for c in (False, True))


@dataclass(frozen=True)
class FastPathTimings:
    """Median seconds per batch of each setting: the measurements the throughput explorer shows."""

    batch: int
    size: int
    mult_adds: int  # per image
    seconds: Mapping[FastSettings, float]

    def images_per_second(self, settings: FastSettings) -> float:
        return self.batch / self.seconds[settings]

    def gflops(self, settings: FastSettings) -> float:
        """Useful arithmetic per second, 2 FLOPs per mult-add."""
        return 2 * self.mult_adds * self.batch / self.seconds[settings] / 1e9

    def speedup(self, settings: FastSettings) -> float:
        return self.seconds[EAGER] / self.seconds[settings]


def measure_fast_path(
    model: nn.Module,
    *,
    batch: int = 1,
    size: int = 299,
    rounds: int = 3,
    settings: Iterable[FastSettings] = ALL_SETTINGS,
    seed: int = 0,
    mult_adds: int | None = None,
) -> FastPathTimings:
    """Time ``model`` under each setting on one random batch (interleaved rounds, medians).

    Builds one copy per folded or channels_last variant (eager runs ``model`` itself, unchanged);
    bf16 reuses the fp32 copy under autocast. ``mult_adds`` per image, if already known, saves
    counting them again with ``inference_mult_adds``.
    """
    settings = tuple(settings)
    if EAGER not in settings:
        settings = (EAGER, *settings)
    _require_eval(model, "measure_fast_path")
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    copies: dict[tuple[bool, bool], nn.Module] = {}
    runs: dict[str, Callable[[], object]] = {}
    for s in settings:
        key = (s.fold_bn, s.channels_last)
        if key not in copies:
            copies[key] = (
                optimize_for_inference(model, fold_bn=key[0], channels_last=key[1]).model if any(key) else model
            )
        fast = InferenceModel(copies[key], channels_last=s.channels_last, bf16=s.bf16)
        runs[s.label] = lambda fast=fast: fast(x)
    seconds = measure_interleaved(runs, rounds)
    medians = {s: statistics.median(seconds[s.label]) for s in settings}
    if mult_adds is None:
        mult_adds = inference_mult_adds(model, size)
    return FastPathTimings(batch=batch, size=size, mult_adds=mult_adds, seconds=medians)


# --- views ---

CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd")


def memory_order_figure(channels: int = 3, height: int = 2, width: int = 3) -> Figure:
    """Where each element of a 1×C×H×W tensor lies in memory, NCHW (contiguous) vs NHWC (channels_last).

    Positions come from the tensors' real strides. Colour is the channel, the label ``h,w``.
    """
    if not 1 <= channels <= len(CHANNEL_COLOURS) or not 1 <= height <= 4 or not 1 <= width <= 4:
        raise ValueError(
            f"memory_order_figure draws 1-{len(CHANNEL_COLOURS)} channels and 1-4 rows/columns, "
            f"got channels={channels}, height={height}, width={width}"
        )
    x = torch.zeros(1, channels, height, width)
    layouts = {"NCHW (contiguous)": x, "NHWC (channels_last)": x.contiguous(memory_format=torch.channels_last)}
    n = x.numel()
    fig = Figure(figsize=(0.42 * n + 1.6, 2.0))
    axes = fig.subplots(2, 1)
    for ax, (name, tensor) in zip(axes, layouts.items(), strict=True):
        _, sc, sh, sw = tensor.stride()
        for c in range(channels):
            for h in range(height):
                for w in range(width):
                    offset = c * sc + h * sh + w * sw
                    ax.add_patch(Rectangle((offset, 0), 1, 1, facecolor=CHANNEL_COLOURS[c], edgecolor="white"))
                    ax.text(offset + 0.5, 0.5, f"{h},{w}", ha="center", va="center", fontsize=7, color="white")
        ax.set_xlim(0, n)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_xticks([i + 0.5 for i in range(n)], [str(i) for i in range(n)], fontsize=6)
        ax.set_title(f"{name}: strides {tuple(tensor.stride())}", fontsize=8, loc="left")
    axes[-1].set_xlabel("memory offset (colour: channel; label: row,column)", fontsize=8)
    fig.tight_layout()
    return fig


METRICS = ("images/s", "GFLOP/s", "× eager")


def throughput_html(
    timings: FastPathTimings,
    *,
    fold_bn: bool = True,
    channels_last: bool = True,
    bf16: bool = False,
    metric: str = "× eager",
) -> str:
    """Table of every measured setting with a bar in ``metric``; the chosen setting highlighted.

    HTML, not a figure: it redraws in well under a millisecond, so a control feels instant.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    chosen = FastSettings(fold_bn, channels_last, bf16)
    if chosen not in timings.seconds:
        raise ValueError(f"{chosen.label} was not measured; measured: {[s.label for s in timings.seconds]}")
    columns = {"images/s": timings.images_per_second, "GFLOP/s": timings.gflops, "× eager": timings.speedup}
    settings = sorted(timings.seconds, key=lambda s: (s.bf16, s.fold_bn, s.channels_last))
    top = max(columns[metric](s) for s in settings)
    rows = []
    for s in settings:
        style = ' style="background:#fff4b8;font-weight:bold"' if s == chosen else ""
        cells = "".join(f"<td>{columns[name](s):.3g}</td>" for name in METRICS)
        bar = html_bar(columns[metric](s) / top, "#ff7f0e" if s == chosen else "#9e9e9e")
        rows.append(f"<tr{style}><td>{s.label}</td>{cells}<td style='width:12em'>{bar}</td></tr>")
    head = "".join(f"<th>{h}</th>" for h in ("setting", *METRICS, metric))
    return (
        f"<p><b>{chosen.label}</b>: {timings.speedup(chosen):.2f}× eager, {timings.images_per_second(chosen):.3g} "
        f"images/s (batch {timings.batch}, {timings.size}×{timings.size}, medians of interleaved runs)</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
