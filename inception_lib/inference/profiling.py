"""Where the time of one forward pass goes: PyTorch operators (``torch.profiler``) and the oneDNN
primitives underneath them (oneDNN's verbose log: which kernel, which layouts, how many reorders)."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch.profiler import ProfilerActivity, profile


def operator_times(run: Callable[[], object], calls: int = 5, warmup: int = 2) -> dict[str, float]:
    """Self CPU milliseconds per call of ``run``, per operator (aten ops, oneDNN ops, compiled
    kernels), largest first; the operators' times add up to about the call's time."""
    if calls < 1:
        raise ValueError(f"calls must be at least 1, got {calls}")
    for _ in range(warmup):
        run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            run()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return {e.key: e.self_cpu_time_total / 1e3 / calls for e in events if e.self_cpu_time_total > 0}


@dataclass(frozen=True)
class Primitive:
    """One oneDNN primitive kind as the verbose log names it, e.g. ("convolution", "brg_conv_fwd:avx512_core_amx")."""

    kind: str
    implementation: str


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """The lines written to file descriptor 1 (by C code too) inside the block."""
    lines: list[str] = []
    libc = ctypes.CDLL(None)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        libc.fflush(None)
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines += sink.read().decode(errors="replace").splitlines()


_EXEC = re.compile(r"^onednn_verbose,(?:v1,)?(?:[^,]*,)?primitive,exec,cpu,([^,]+),([^,]+),.*,([0-9.]+)$")


def onednn_primitives(run: Callable[[], object], warmup: int = 2) -> dict[Primitive, tuple[int, float]]:
    """(count, total milliseconds) of every oneDNN primitive one call of ``run`` executes.

    Reorders are layout conversions (of weights or activations); an eager NCHW model runs one per
    convolution weight on every call. Times come from oneDNN's own clock, kernels only.
    """
    for _ in range(warmup):
        run()
    with _captured_stdout() as lines, torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        run()
    found: dict[Primitive, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for line in lines:
        match = _EXEC.match(line.strip())
        if match:
            entry = found[Primitive(match[1], match[2])]
            entry[0] += 1
            entry[1] += float(match[3])
    return {primitive: (int(n), ms) for primitive, (n, ms) in found.items()}
