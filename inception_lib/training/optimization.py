"""What turns gradients into weight updates: the optimizer a ``TrainConfig`` names, the per-step
learning-rate schedule (warm-up, then the paper's step decay or a cosine), and the running average
of the weights that evaluation uses (Section 8: "a running average of the parameters")."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from .config import TrainConfig


def build_optimizer(config: TrainConfig, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer the config names.

    PyTorch's RMSprop adds ε outside the square root (TensorFlow, where the paper's ε = 1.0 comes
    from, adds it inside); with ε = 1.0 both mostly act like momentum SGD on small gradients.
    """
    params = list(parameters)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=config.lr,
            alpha=config.rmsprop_decay,
            eps=config.rmsprop_eps,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True
    )


def lr_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the peak learning rate at optimizer ``step`` (0-based): warm-up, then step or cosine decay."""
    warmup = round(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if config.schedule == "step":
        return config.lr_decay ** math.floor(step / (config.decay_epochs * steps_per_epoch))
    total = config.epochs * steps_per_epoch
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(
    config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler following ``lr_factor``."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(config, step, steps_per_epoch))


def ema_decay_at(decay: float, updates: int) -> float:
    """Decay after ``updates`` averaging steps: ``min(decay, (1 + t) / (10 + t))``.

    TensorFlow's ExponentialMovingAverage (with ``num_updates``, as the Inception training code
    used it) warms up this way, so that a short run's average is not dominated by the random
    initial weights.
    """
    return min(decay, (1 + updates) / (10 + updates))


def build_ema(model: nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights and BatchNorm statistics (``ema.module``)."""

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if not averaged[0].is_floating_point():  # counters such as num_batches_tracked: keep the latest
            torch._foreach_copy_(averaged, current)
            return
        torch._foreach_lerp_(averaged, current, 1 - ema_decay_at(decay, int(num_averaged)))

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)
