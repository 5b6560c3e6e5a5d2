"""Training drawn: label smoothing's targets and loss, free logits, example images, confusion
matrices, learning curves, one epoch of a recorded run, and the presets as a table."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import Field
from typing import Any

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from ..training.config import PRESETS, TrainConfig, differing_fields
from ..training.data import ImageFolderDataset, ShapesDataset
from ..training.losses import (
    LABEL_SMOOTHING,
    check_epsilon,
    logit_gap_trajectory,
    loss_at_gap,
    optimal_logit_gap,
    smooth_targets,
)
from . import svg
from .encode import STORED_DPI
from .svg import Panel, SvgChart, nice_ticks, svg_document


def plot_label_smoothing(epsilon: float = LABEL_SMOOTHING, num_classes: int = 3) -> SvgChart:
    """Left: the target distribution q' for one example. Right: loss against the logit gap, with and
    without smoothing, and the finite optimum that smoothing creates. SVG: redraws in milliseconds."""
    check_epsilon(epsilon)
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    shown = min(num_classes, 10)
    target = smooth_targets(torch.tensor([0]), num_classes, epsilon)[0, :shown].tolist()
    bars = Panel(62, 28, 250, 232, xlim=(-0.6, shown - 0.4), ylim=(0, 1.05))
    bars.bars(range(shown), [1.0] + [0.0] * (shown - 1), 0.8, svg.LIGHT_GREY, "one-hot δ")
    bars.bars(range(shown), target, 0.5, svg.BLUE, f"q' (ε = {epsilon:.2f})")
    bars.frame(
        range(shown),
        nice_ticks(0, 1.0),
        xlabel="class" + (" (first 10)" if num_classes > shown else ""),
        ylabel="target probability",
        title=f"targets, K = {num_classes}",
    )
    bars.legend()
    gaps = torch.linspace(0, 15, 151)
    plain, smoothed = loss_at_gap(gaps, num_classes, 0.0), loss_at_gap(gaps, num_classes, epsilon)
    top = float(max(plain.max(), smoothed.max()))
    loss = Panel(400, 28, 480, 232, xlim=(-0.75, 15.75), ylim=(-0.05 * top, 1.05 * top))
    xticks, yticks = nice_ticks(0, 15), nice_ticks(0, top)
    loss.grid(xticks, yticks)
    loss.line(gaps.tolist(), plain.tolist(), svg.GREY, "--", label="ε = 0 (keeps falling)")
    loss.line(gaps.tolist(), smoothed.tolist(), svg.BLUE, label=f"ε = {epsilon:.2f}")
    best = optimal_logit_gap(num_classes, epsilon)
    if math.isfinite(best) and best <= float(gaps[-1]):
        low = float(loss_at_gap(torch.tensor(best), num_classes, epsilon))
        loss.point(best, low, svg.RED, label=f"optimum: gap {best:.2f}")
    loss.frame(
        xticks, yticks, xlabel="logit gap (correct minus each other class)", ylabel="cross-entropy", title="loss"
    )
    loss.legend()
    return svg_document(900, 320, [bars, loss])


def plot_logit_gaps(epsilons: Sequence[float], num_classes: int = 3, steps: int = 300) -> Figure:
    """``logit_gap_trajectory`` for several ε, with each finite optimum as a dotted line."""
    fig = Figure(figsize=(6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for epsilon in epsilons:
        line = ax.plot(logit_gap_trajectory(epsilon, num_classes, steps), label=f"ε = {epsilon:g}")[0]
        best = optimal_logit_gap(num_classes, epsilon)
        if math.isfinite(best):
            ax.axhline(best, color=line.get_color(), ls=":", lw=1)
    ax.set(xlabel="gradient step", ylabel="logit gap", title=f"free logits, K = {num_classes} (dotted: optimum)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


# The largest side of an example image on screen (at STORED_DPI): stored notebook outputs stay small.
EXAMPLE_PIXELS = 64
# How the metrics log's keys read on an axis.
METRIC_LABELS = {
    "train_loss": "training loss",
    "train_acc": "training accuracy",
    "val_loss": "held-out loss (plain cross-entropy)",
    "val_acc": "held-out accuracy",
    "val_loss_ema": "held-out loss, weight average (plain cross-entropy)",
    "val_acc_ema": "held-out accuracy, weight average",
}


def compare_runs(
    runs: Mapping[str, Sequence[dict[str, Any]]], key: str = "val_acc_ema", title: str = "", label: str = ""
) -> Figure:
    """One metric per epoch for several runs, e.g. with and without label smoothing; the y axis reads
    ``label``, by default the metric's name in ``METRIC_LABELS``."""
    missing = [name for name, history in runs.items() if any(key not in r for r in history)]
    if missing:
        raise ValueError(f"runs {missing} have no {key!r} in every epoch; keys of a record: {sorted(METRIC_LABELS)}")
    label = label or METRIC_LABELS.get(key, key)
    fig = Figure(figsize=(6, 3.4), dpi=STORED_DPI, layout="constrained")
    ax = fig.add_subplot()
    for name, history in runs.items():
        ax.plot([r["epoch"] for r in history], [r[key] for r in history], "-o", markersize=3, label=name)
    ax.set(xlabel="epoch", ylabel=label, title=title or label)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_history(history: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Loss and accuracy per epoch (training, validation, validation of the weight average)."""
    if not history:
        raise ValueError("history is empty: train for at least one epoch first")
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.4), dpi=STORED_DPI, layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, label, style in (("train_loss", "training", "-"), ("val_loss", "validation", "-o")):
        loss_ax.plot(epochs, [r[key] for r in history], style, label=label, markersize=3)
    for key, label, style in (
        ("train_acc", "training", "-"),
        ("val_acc", "validation", "-o"),
        ("val_acc_ema", "validation, weight average", "--s"),
    ):
        acc_ax.plot(epochs, [r[key] for r in history], style, label=label, markersize=3)
    acc_ax.axhline(1 / history[0].get("num_classes", 3), color="grey", lw=0.8, ls=":", label="chance")
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def plot_epoch(
    history: Sequence[dict[str, Any]], epoch: int, average: bool = True, classes: Sequence[str] = ()
) -> SvgChart:
    """Validation accuracy up to ``epoch`` and that epoch's confusion matrix, for the raw weights or their
    average. SVG: redraws in milliseconds."""
    epochs = [r["epoch"] for r in history]
    if epoch not in epochs:
        raise ValueError(f"epoch {epoch} is not in this history (epochs {epochs[0]}..{epochs[-1]})")
    suffix = "_ema" if average else ""
    record = history[epochs.index(epoch)]
    confusion = [[int(v) for v in row] for row in record[f"confusion{suffix}"]]
    names = list(classes) or [str(k) for k in range(len(confusion))]
    k = len(names)
    if len(confusion) != k or any(len(row) != k for row in confusion):
        raise ValueError(f"the confusion matrix of epoch {epoch} is not {k}×{k} for classes {names}")
    span = max(1, epochs[-1] - epochs[0])
    curve = Panel(62, 28, 470, 232, xlim=(epochs[0] - 0.05 * span, epochs[-1] + 0.05 * span), ylim=(0, 1.02))
    xticks = [t for t in nice_ticks(epochs[0], epochs[-1]) if t == int(t)]
    yticks = nice_ticks(0, 1.0)
    curve.grid(xticks, yticks)
    curve.line(epochs, [r[f"val_acc{suffix}"] for r in history], svg.BLUE, marker=3)
    curve.vline(epoch, svg.RED)
    curve.hline(1 / k, svg.GREY, ":", 0.8, label="chance")
    curve.frame(
        xticks,
        yticks,
        xlabel="epoch",
        ylabel="validation accuracy",
        title="weight average" if average else "raw weights",
    )
    curve.legend("lower right")
    side = 232
    matrix = Panel(900 - 30 - side, 28, side, side, xlim=(-0.5, k - 0.5), ylim=(k - 0.5, -0.5))
    matrix.heat_map(confusion)
    matrix.frame(
        range(k),
        range(k),
        names,
        names,
        xlabel="predicted",
        ylabel="true",
        title=f"epoch {epoch}: accuracy {record[f'val_acc{suffix}']:.1%}",
    )
    return svg_document(900, 320, [curve, matrix])


def draw_confusion(ax: Axes, confusion: Tensor, classes: Sequence[str]) -> None:
    """Draw ``confusion`` as a heat map with counts on ``ax`` (rows: true class, columns: predicted)."""
    k = len(classes)
    if tuple(confusion.shape) != (k, k):
        raise ValueError(f"confusion has shape {tuple(confusion.shape)}, expected ({k}, {k}) for classes {classes}")
    ax.imshow(confusion.numpy(), cmap="Blues", vmin=0)
    peak = int(confusion.max()) if confusion.numel() else 0
    for i in range(k):
        for j in range(k):
            value = int(confusion[i, j])
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > peak / 2 else "black")
    ax.set(xticks=range(k), yticks=range(k), xticklabels=classes, yticklabels=classes)
    ax.set(xlabel="predicted", ylabel="true")


def plot_confusion(confusion: Tensor, classes: Sequence[str], title: str = "confusion matrix") -> Figure:
    """The confusion matrix as a figure."""
    fig = Figure(figsize=(3.6, 3.2), dpi=STORED_DPI, layout="constrained")
    ax = fig.add_subplot()
    draw_confusion(ax, confusion, classes)
    ax.set_title(title)
    return fig


def plot_examples(dataset: ShapesDataset | ImageFolderDataset, count: int = 12, columns: int = 6) -> Figure:
    """The first ``count`` images of a dataset with their class names."""
    count = min(count, len(dataset))
    rows = math.ceil(count / columns)
    # At most one screen pixel per image pixel: noisy images make large PNGs when scaled up.
    side = min(EXAMPLE_PIXELS, max(dataset.image(0).size)) / STORED_DPI
    fig = Figure(figsize=(1.15 * side * columns, (1.15 * side + 0.25) * rows), dpi=STORED_DPI, layout="constrained")
    for i, ax in enumerate(fig.subplots(rows, columns, squeeze=False).flat):
        ax.axis("off")
        if i < count:
            ax.imshow(dataset.image(i), interpolation="antialiased")
            ax.set_title(dataset.classes[dataset.label(i)], fontsize=9)
    return fig


def preset_table(*names: str) -> str:
    """HTML table of the options in which the named presets differ (all presets by default).

    A value equal to ``TrainConfig``'s default (the ``paper`` preset's) carries, in brackets, the
    source of that default (the field's ``source`` metadata: a section of the paper, TF-slim, …);
    the other values are the presets' own choices.
    """
    names = names or tuple(PRESETS)
    configs = [TrainConfig.preset(name) for name in names]
    rows = differing_fields(*names)

    def cell(config: TrainConfig, f: Field) -> str:
        value = getattr(config, f.name)
        source = f" <small>({html.escape(f.metadata['source'])})</small>" if value == f.default else ""
        return f"<td>{html.escape(str(value))}{source}</td>"

    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(f"<tr><td><code>{f.name}</code></td>" + "".join(cell(c, f) for c in configs) + "</tr>" for f in rows)
    note = (
        "<caption style='caption-side:bottom;text-align:left'>In brackets: where the default (the paper "
        "preset's value) comes from. §: a section of the paper; TF-slim: its Inception v3 training defaults; "
        "TF Inception code: TensorFlow's older Inception training code; PyTorch: its default; course: this "
        "library's choice. Values without brackets are the other presets' own choices.</caption>"
    )
    return f"<table>{note}<tr><th>option</th>{head}</tr>{body}</table>"
