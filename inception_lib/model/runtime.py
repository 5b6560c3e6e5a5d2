"""How a module runs: in eval mode for a moment, on a set number of threads, under bf16 autocast.

Each of these is a context manager that puts back what it changed, so a tool that measures or
draws a model leaves the caller's model (its train/eval mode) and torch's settings as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import nn


@contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode inside the block; its own train/eval mode is restored afterwards."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run torch's intra-op work on ``count`` threads inside the block, then restore the number."""
    if count < 1:
        raise ValueError(f"count must be a positive number of threads, got {count}")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def autocast(device: torch.device | str, bf16: bool) -> torch.autocast | nullcontext:
    """bfloat16 autocast on ``device`` when ``bf16``, else nothing."""
    device_type = torch.device(device).type
    return torch.autocast(device_type, dtype=torch.bfloat16) if bf16 else nullcontext()
