"""Timing on a shared machine: interleaved rounds, layers against their factorized replacements
(mult-adds are not time), and every switch combination of the fast path measured on one batch,
for the throughput explorer and the benchmarks."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .fast_path import InferenceModel, optimize_for_inference, require_eval


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


def time_modules(
    modules: Mapping[str, nn.Module], input_shape: Sequence[int], rounds: int = 5, batch: int = 1, seed: int = 0
) -> dict[str, float]:
    """Median seconds of one forward pass of each module on the same random ``(batch, *input_shape)``
    input, in eval mode without autograd, in interleaved rounds (``measure_interleaved``).

    Modules built on PyTorch's ``meta`` device (the cost calculators' layers) are timed on a copy
    with real, freshly initialized weights; the caller's modules are left untouched.
    """
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(seed))
    runnable = {name: _materialized(module).eval() for name, module in modules.items()}

    def run(module: nn.Module) -> Callable[[], object]:
        def call() -> object:
            with torch.no_grad():
                return module(x)

        return call

    seconds = measure_interleaved({name: run(m) for name, m in runnable.items()}, rounds)
    return {name: statistics.median(times) for name, times in seconds.items()}


def _materialized(module: nn.Module) -> nn.Module:
    """``module`` itself, or for a module with tensors on the ``meta`` device a CPU copy with fresh weights."""
    if not any(t.is_meta for t in (*module.parameters(), *module.buffers())):
        return module
    real = copy.deepcopy(module).to_empty(device="cpu")
    for layer in real.modules():
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    return real


class FastSettings(NamedTuple):
    """One combination of the fast path's switches (``torch.compile`` aside). ``pack`` needs the
    other two layout switches: oneDNN's fused kernel takes folded, channels_last convolutions."""

    fold_bn: bool
    channels_last: bool
    bf16: bool
    pack: bool = False

    @property
    def label(self) -> str:
        parts = [name for name, on in zip(("fold", "NHWC", "bf16", "packed"), self, strict=True) if on]
        return "+".join(parts) or "eager"


EAGER = FastSettings(False, False, False)
_LAYOUTS = ((False, False, False), (False, True, False), (True, False, False), (True, True, False), (True, True, True))
ALL_SETTINGS = tuple(FastSettings(fold, nhwc, bf16, pack) for bf16 in (False, True) for fold, nhwc, pack in _LAYOUTS)


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
    mult_adds: int,
) -> FastPathTimings:
    """Time ``model`` under each setting on one random batch (interleaved rounds, medians).

    Builds one copy per setting (eager runs ``model`` itself, unchanged); ``bf16`` settings hold a
    bfloat16 copy of the weights. ``mult_adds`` per image (e.g. from
    ``analysis.costs.inference_mult_adds``) turns times into GFLOP/s.
    """
    settings = tuple(settings)
    if EAGER not in settings:
        settings = (EAGER, *settings)
    require_eval(model, "measure_fast_path")
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))
    runs: dict[str, Callable[[], object]] = {}
    for s in settings:
        fast = (
            optimize_for_inference(
                model, fold_bn=s.fold_bn, channels_last=s.channels_last, bf16=s.bf16, pack=s.pack, input_shape=x.shape
            )
            if s != EAGER
            else InferenceModel(model)
        )
        runs[s.label] = lambda fast=fast: fast(x)
    seconds = measure_interleaved(runs, rounds)
    medians = {s: statistics.median(seconds[s.label]) for s in settings}
    return FastPathTimings(batch=batch, size=size, mult_adds=mult_adds, seconds=medians)
