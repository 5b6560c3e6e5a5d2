"""Measuring a classifier: loss, accuracy and the confusion matrix over a dataset."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ..model.runtime import autocast, evaluating


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
    loss_sum = 0.0
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    dtype = next(model.parameters()).dtype
    with evaluating(model):
        for images, labels in DataLoader(dataset, batch_size=batch_size):
            images = images.to(device, dtype=dtype, memory_format=memory_format)
            with autocast(device, bf16):
                logits = model(images)
            logits = logits.float().cpu()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            confusion += torch.bincount(labels * num_classes + logits.argmax(1), minlength=num_classes**2).view(
                num_classes, num_classes
            )
    return Evaluation(loss_sum, confusion)
