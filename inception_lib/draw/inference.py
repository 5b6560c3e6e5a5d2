"""The inference fast path drawn: memory order of NCHW against NHWC, and the throughput table."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..inference.timing import FastPathTimings, FastSettings
from .encode import html_bar

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
    pack: bool = False,
    metric: str = "× eager",
) -> str:
    """Table of every measured setting with a bar in ``metric``; the chosen setting highlighted.

    HTML, not a figure: it redraws in well under a millisecond, so a control feels instant.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    chosen = FastSettings(fold_bn, channels_last, bf16, pack)
    if chosen not in timings.seconds:
        raise ValueError(f"{chosen.label} was not measured; measured: {[s.label for s in timings.seconds]}")
    columns = {"images/s": timings.images_per_second, "GFLOP/s": timings.gflops, "× eager": timings.speedup}
    settings = sorted(timings.seconds, key=lambda s: (s.bf16, s.fold_bn, s.channels_last, s.pack))
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
