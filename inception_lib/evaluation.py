"""Measuring a classifier: loss, accuracy and the confusion matrix over a dataset."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset


@dataclass(frozen=True)
class Evaluation:
    """Summed cross-entropy, counts and the confusion matrix (rows: true class, columns: predicted)."""

    loss_sum: float
    confusion: Tensor

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.count)

    @property
    def accuracy(self) -> float:
        return float(self.confusion.diag().sum()) / max(1, self.count)


def autocast(device: torch.device, bf16: bool) -> torch.autocast | nullcontext:
    """bfloat16 autocast on ``device`` when ``bf16``, else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    num_classes: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
    bf16: bool = False,
) -> Evaluation:
    """Run ``model`` in eval mode over ``dataset`` (restoring its mode afterwards)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    dtype = next(model.parameters()).dtype
    try:
        for images, labels in DataLoader(dataset, batch_size=batch_size):
            images = images.to(device, dtype=dtype, memory_format=memory_format)
            with autocast(device, bf16):
                logits = model(images)
            logits = logits.float().cpu()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            confusion += torch.bincount(labels * num_classes + logits.argmax(1), minlength=num_classes**2).view(
                num_classes, num_classes
            )
    finally:
        model.train(was_training)
    return Evaluation(loss_sum, confusion)


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
    fig = Figure(figsize=(3.6, 3.2), layout="constrained")
    ax = fig.add_subplot()
    draw_confusion(ax, confusion, classes)
    ax.set_title(title)
    return fig
