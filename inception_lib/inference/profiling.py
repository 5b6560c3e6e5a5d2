"""Where the time of one forward pass goes: PyTorch operators (``torch.profiler``) and the oneDNN
primitives underneath them (oneDNN's verbose log: which kernel, which layouts, how many reorders)."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


def operator_times(run: Callable[[], object], calls: int = 5, warmup: int = 2) -> dict[str, float]:
    """Self CPU milliseconds of each operator (aten ops, oneDNN ops, compiled kernels) in one call of
    ``run``, largest first: the least disturbed of ``calls`` profiled calls (the one with the smallest
    total), so that a burst of other work on a shared machine does not inflate one operator."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    for _ in range(warmup):
        run()
    best: dict[str, float] | None = None
    for _ in range(calls):
        with _profiled() as prof:
            run()
        times = {e.key: e.self_cpu_time_total / 1e3 for e in prof.key_averages() if e.self_cpu_time_total > 0}
        if best is None or sum(times.values()) < sum(best.values()):
            best = times
    return dict(sorted(best.items(), key=lambda item: -item[1]))


@dataclass(frozen=True)
class Primitive:
    """One oneDNN primitive kind as the verbose log names it, e.g. ("convolution", "brg_conv_fwd:avx512_core_amx")."""

    kind: str
    implementation: str


@contextlib.contextmanager
def _captured(fd: int) -> Iterator[list[str]]:
    """The lines written to file descriptor ``fd`` (by C code too) inside the block."""
    lines: list[str] = []
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        libc.fflush(None)
        saved = os.dup(fd)
        os.dup2(sink.fileno(), fd)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()


@contextlib.contextmanager
def _profiled() -> Iterator[profile]:
    """``torch.profiler.profile`` on the CPU, without the start and stop lines its C++ side prints to stderr."""
    with _captured(2) as lines, profile(activities=[ProfilerActivity.CPU]) as prof:
        yield prof
    for line in lines:
        if not line.startswith(("USDT:", "STAGE:")):
            print(line, file=sys.stderr)


_EXEC = re.compile(r"^onednn_verbose,(?:v1,)?(?:[^,]*,)?primitive,exec,cpu,([^,]+),([^,]+),.*,([0-9.]+)$")


def onednn_primitives(run: Callable[[], object], calls: int = 3, warmup: int = 2) -> dict[Primitive, tuple[int, float]]:
    """(count, total milliseconds) of every oneDNN primitive one call of ``run`` executes, from the
    least disturbed of ``calls`` logged calls (the smallest total kernel time).

    Reorders are layout conversions (of weights or activations); an eager NCHW model runs one per
    convolution weight on every call. Times come from oneDNN's own clock, kernels only.
    """
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    for _ in range(warmup):
        run()
    best: dict[Primitive, tuple[int, float]] | None = None
    for _ in range(calls):
        with _captured(1) as lines, torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
            run()
        found: dict[Primitive, list[float]] = collections.defaultdict(lambda: [0, 0.0])
        for line in lines:
            match = _EXEC.match(line.strip())
            if match:
                entry = found[Primitive(match[1], match[2])]
                entry[0] += 1
                entry[1] += float(match[3])
        totals = {primitive: (int(n), ms) for primitive, (n, ms) in found.items()}
        if best is None or sum(ms for _, ms in totals.values()) < sum(ms for _, ms in best.values()):
            best = totals
    return best
