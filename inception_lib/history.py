"""The per-epoch metrics log (one JSON object per line) and the learning curves drawn from it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from .checkpoint import atomic_write

METRICS_FILE = "metrics.jsonl"


def write_metrics(path: str | Path, history: Sequence[dict[str, Any]]) -> Path:
    """Write the whole history, one epoch per line, atomically (a resumed run rewrites what it inherited)."""
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in history)
    return atomic_write(path, text.encode("utf-8"))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics log, in order."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no metrics log at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_history(history: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Loss and accuracy per epoch (training, validation, validation of the weight average)."""
    if not history:
        raise ValueError("history is empty: train for at least one epoch first")
    epochs = [r["epoch"] for r in history]
    fig = Figure(figsize=(9, 3.4), layout="constrained")
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
