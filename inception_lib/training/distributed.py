"""Running one training script on many processes: ``torchrun`` sets the environment, this reads it.

``torchrun --nproc_per_node N`` starts N copies of the same command with ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. ``init_distributed`` joins them into a
process group (gloo on CPUs, nccl on GPUs) with a timeout, so a process that dies makes the others
fail instead of waiting forever. A plain ``python`` launch gives a one-process context and no group.

BatchNorm normally computes its statistics per process. ``convert_sync_batchnorm`` makes it use
the whole global batch: ``torch.nn.SyncBatchNorm`` on GPUs, and on CPUs (which torch's version
refuses) ``CPUSyncBatchNorm``, which sums per-channel moments with a differentiable all-reduce.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import Tensor, nn


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's GPU if there is one, else the CPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA GPU; use --device cpu or auto")
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def init_distributed(device: str = "auto", timeout_s: float = 300.0) -> DistContext:
    """Join the process group torchrun describes in the environment (one process: no group)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if resolved.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=resolved)


def close_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: Tensor, context: DistContext) -> Tensor:
    """Sum ``tensor`` over all processes (identity for one process)."""
    if context.distributed:
        dist.all_reduce(tensor)
    return tensor


def _all_reduce(tensor: Tensor) -> Tensor:
    """Differentiable sum over processes: its backward sums the incoming gradients across processes too.

    Functional collectives are what torch recommends now for autograd-aware collectives
    (``torch.distributed.nn.functional`` is deprecated).
    """
    return funcol.wait_tensor(funcol.all_reduce(tensor, "sum", dist.group.WORLD))


class CPUSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the batches of every process (for gloo/CPU).

    Mean and variance come from sums all-reduced across processes; the all-reduce is
    differentiable, so the backward pass also sees the global batch, exactly as one process
    with the whole batch would. Outside training, or with one process, it is plain BatchNorm2d.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        dims = (0, 2, 3)
        h = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # statistics in full precision
        count = torch.tensor([h.numel() / h.shape[1]], dtype=h.dtype, device=h.device)
        totals = _all_reduce(torch.cat([h.sum(dims), count]))
        n = totals[-1]
        mean = totals[:-1] / n
        centred = h - mean.view(1, -1, 1, 1)
        # A second pass over the centred values is numerically safer than E[x²] − E[x]².
        var = _all_reduce((centred * centred).sum(dims)) / n
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1), momentum)  # unbiased, as BatchNorm2d keeps it
        return y.to(x.dtype)


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm2d by its synchronized version for ``device`` (parameters and buffers kept)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, CPUSyncBatchNorm):
        tensors = list(module.state_dict().values())
        placement = {"device": tensors[0].device, "dtype": tensors[0].dtype} if tensors else {}
        synced = CPUSyncBatchNorm(
            module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats, **placement
        )
        synced.load_state_dict(module.state_dict())
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        module.add_module(name, convert_sync_batchnorm(child, device))
    return module


def torchrun_command(
    options: Sequence[str] = (),
    nproc_per_node: int = 1,
    nnodes: int = 1,
    node_rank: int = 0,
    endpoint: str = "HOST:29500",
) -> str:
    """The ``torchrun`` line that runs ``python -m inception_lib train OPTIONS`` on ``nnodes`` machines.

    One machine uses ``--standalone`` (torchrun picks a free local port). Several machines meet at
    ``endpoint`` (host:port of any one of them, reachable from all) through the c10d rendezvous;
    run the same line on each machine with its own ``node_rank``.
    """
    if nproc_per_node < 1 or nnodes < 1 or not 0 <= node_rank < nnodes:
        raise ValueError(
            f"need nproc_per_node >= 1, nnodes >= 1 and 0 <= node_rank < nnodes, got "
            f"{nproc_per_node}, {nnodes}, {node_rank}"
        )
    launch = ["torchrun"]
    if nnodes == 1:
        launch += ["--standalone", f"--nproc_per_node={nproc_per_node}"]
    else:
        launch += [
            f"--nnodes={nnodes}",
            f"--node_rank={node_rank}",
            f"--nproc_per_node={nproc_per_node}",
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint={endpoint}",
        ]
    return " ".join([*launch, "-m", "inception_lib", "train", *options])
