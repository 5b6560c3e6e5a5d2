"""The per-epoch metrics log (one JSON object per line) and the learning curves drawn from it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from .checkpoint import atomic_write
from .evaluation import draw_confusion

METRICS_FILE = "metrics.jsonl"
# Per-epoch logs of the runs documented in docs/training.md (built-in shapes), shipped with the library.
RUNS_FOLDER = ("data", "runs")


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


def _runs_folder() -> Path:
    return Path(str(resources.files("inception_lib").joinpath(*RUNS_FOLDER)))


def recorded_runs() -> list[str]:
    """Names of the recorded runs: ``cpu`` is ``python -m inception_lib train --preset cpu`` as documented."""
    return sorted(p.stem for p in _runs_folder().glob("*.jsonl"))


def recorded_run(name: str = "cpu") -> list[dict[str, Any]]:
    """The per-epoch log of a recorded run (see ``recorded_runs`` and docs/training.md)."""
    if name not in recorded_runs():
        raise ValueError(f"unknown recorded run {name!r}; available: {', '.join(recorded_runs())}")
    return read_metrics(_runs_folder() / f"{name}.jsonl")


def compare_runs(runs: Mapping[str, Sequence[dict[str, Any]]], key: str = "val_acc_ema", title: str = "") -> Figure:
    """One metric per epoch for several runs, e.g. with and without label smoothing."""
    fig = Figure(figsize=(6, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for name, history in runs.items():
        ax.plot([r["epoch"] for r in history], [r[key] for r in history], "-o", markersize=3, label=name)
    ax.set(xlabel="epoch", ylabel=key.replace("_", " "), title=title or key.replace("_", " "))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


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


def plot_epoch(
    history: Sequence[dict[str, Any]], epoch: int, average: bool = True, classes: Sequence[str] = ()
) -> Figure:
    """Validation accuracy up to ``epoch`` and that epoch's confusion matrix, for the raw weights or their average."""
    epochs = [r["epoch"] for r in history]
    if epoch not in epochs:
        raise ValueError(f"epoch {epoch} is not in this history (epochs {epochs[0]}..{epochs[-1]})")
    suffix = "_ema" if average else ""
    record = history[epochs.index(epoch)]
    confusion = torch.tensor(record[f"confusion{suffix}"])
    names = list(classes) or [str(k) for k in range(len(confusion))]
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    curve_ax, matrix_ax = fig.subplots(1, 2, width_ratios=(1.6, 1))
    curve_ax.plot(epochs, [r[f"val_acc{suffix}"] for r in history], "-o", markersize=3, color="tab:blue")
    curve_ax.axvline(epoch, color="tab:red", lw=1)
    curve_ax.axhline(1 / len(names), color="grey", lw=0.8, ls=":", label="chance")
    curve_ax.set(
        xlabel="epoch",
        ylabel="validation accuracy",
        ylim=(0, 1.02),
        title="weight average" if average else "raw weights",
    )
    curve_ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=8)
    draw_confusion(matrix_ax, confusion, names)
    matrix_ax.set_title(f"epoch {epoch}: accuracy {record[f'val_acc{suffix}']:.1%}")
    return fig
