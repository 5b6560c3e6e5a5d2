"""Training explorers: label smoothing's targets and loss (notebook 06), and a training run epoch by epoch (09)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as widgets

from ..draw.training import plot_epoch, plot_label_smoothing
from ..training.data import CLASSES
from ..training.losses import LABEL_SMOOTHING
from ..training.metrics import recorded_run
from .base import Explorer


def label_smoothing_explorer() -> Explorer:
    """ε and K: the smoothed target q' and where the loss has its minimum."""
    return Explorer(
        "Label-smoothing regularization (Section 7)",
        lambda epsilon, num_classes: plot_label_smoothing(epsilon, num_classes),
        {
            "epsilon": widgets.FloatSlider(
                value=LABEL_SMOOTHING, min=0.0, max=0.5, step=0.01, description="ε", continuous_update=False
            ),
            "num_classes": widgets.Dropdown(options=(3, 10, 1000), value=3, description="K"),
        },
    )


def run_explorer(history: Sequence[dict[str, Any]] | None = None, classes: Sequence[str] = CLASSES) -> Explorer:
    """Step through the epochs of a run (the recorded CPU-preset run by default): accuracy and confusion matrix."""
    history = list(history) if history is not None else recorded_run()
    return Explorer(
        "A training run, epoch by epoch",
        lambda epoch, average: plot_epoch(history, epoch, average, classes),
        {
            "epoch": widgets.IntSlider(
                value=history[-1]["epoch"],
                min=history[0]["epoch"],
                max=history[-1]["epoch"],
                description="epoch",
                continuous_update=False,
            ),
            "average": widgets.ToggleButtons(
                options=(("weight average", True), ("raw weights", False)), value=True, description="weights"
            ),
        },
    )


EXPLORERS: dict[str, Callable[[], Explorer]] = {"label_smoothing": label_smoothing_explorer, "run": run_explorer}
