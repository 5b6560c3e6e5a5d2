"""Training Inception V2: one loop for a notebook, the command line, and ``torchrun`` on many processes.

>>> result = train(TrainConfig.preset("cpu", out_dir="runs/shapes"))   # or: python -m inception_lib train
>>> result.history[-1]["val_acc_ema"]

Every epoch ends with an evaluation of the weights and of their exponential moving average on the
held-out set, a line in ``metrics.jsonl``, the averaged network in ``weights.pt`` (``assets.weights``)
and an atomically written ``checkpoint.pt`` holding everything the run depends on: model,
optimizer, schedule, weight average, every process's random state and the epoch. ``resume=True``
continues from it; because the data order and the images are functions of (seed, epoch) alone, a
resumed run ends bit for bit where an uninterrupted one would.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset
from tqdm.auto import tqdm

from ..assets.weights import save_weights
from ..model import InceptionV2
from ..model.init import set_batchnorm_momentum, shift_batchnorm, zero_classifiers
from ..model.runtime import autocast
from .checkpoint import load_checkpoint, save_checkpoint
from .config import RESUMABLE_CHANGES, TrainConfig, config_field_defaults
from .data import build_datasets
from .distributed import DistContext, all_reduce_sum, close_distributed, convert_sync_batchnorm, init_distributed
from .evaluation import Evaluation, evaluate
from .losses import inception_loss
from .metrics import METRICS_FILE, write_metrics
from .optimization import build_ema, build_optimizer, build_scheduler

CHECKPOINT_FILE = "checkpoint.pt"
WEIGHTS_FILE = "weights.pt"


@dataclass(frozen=True)
class StepInfo:
    """What a step callback sees after each optimizer step."""

    epoch: int
    step: int  # within the epoch
    global_step: int
    loss: float
    rank: int


@dataclass
class TrainResult:
    """The trained model, its weight average (what the paper evaluates), and the per-epoch metrics."""

    model: InceptionV2
    ema_model: InceptionV2
    history: list[dict[str, Any]]
    classes: tuple[str, ...]
    val_set: Dataset
    checkpoint: Path | None


def build_model(config: TrainConfig, num_classes: int) -> InceptionV2:
    """The network ``config`` describes, initialized for training (BatchNorm shift and momentum, classifier)."""
    model = InceptionV2(config.model_config(num_classes))
    set_batchnorm_momentum(model, config.bn_momentum)
    shift_batchnorm(model, config.bn_shift)
    if config.zero_head:
        zero_classifiers(model)
    return model


def check_bf16(device: torch.device) -> None:
    """``ValueError`` unless ``device`` runs bfloat16 natively (autocast would be emulated and slow)."""
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if not supported:
        raise ValueError(f"--bf16 needs bfloat16 support on {device} (AVX-512 BF16/AMX CPU or an Ampere+ GPU)")


def check_out_dir(config: TrainConfig, resume: bool | str | Path) -> None:
    """``ValueError`` before anything is written when ``out_dir`` cannot take this run's files: it is a
    file, or it already holds another run's checkpoint and ``resume`` is off (that run would be lost)."""
    out_dir = Path(config.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out-dir {out_dir} is a file; give a folder (it is created if missing)")
    if not resume and (out_dir / CHECKPOINT_FILE).exists():
        raise ValueError(
            f"{out_dir} already holds a run ({CHECKPOINT_FILE}); pass --resume to continue it, "
            "or choose another --out-dir"
        )


def _shard(dataset: Dataset, context: DistContext) -> Dataset:
    """This process's share of the validation set (every world_size-th image, no padding)."""
    return Subset(dataset, range(context.rank, len(dataset), context.world_size)) if context.distributed else dataset


def _materialize(dataset: Dataset, limit_bytes: int = 512 * 2**20) -> Dataset:
    """Decode a small validation set once, instead of twice per epoch (model and weight average)."""
    image, _ = dataset[0]
    if len(dataset) * image.numel() * image.element_size() > limit_bytes:
        return dataset
    images, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return TensorDataset(torch.stack(images), torch.tensor(labels))


def _gather_rng(context: DistContext) -> list[dict[str, Tensor | list[Tensor]]]:
    """Every process's random state (dropout masks differ per process), gathered to all."""
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if context.device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(context.device)
    if not context.distributed:
        return [state]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, state)
    return gathered


def _check_resumable(saved: dict[str, Any], config: TrainConfig, world_size: int, saved_world: int) -> None:
    # A setting an older checkpoint does not record had its default value then.
    defaults = config_field_defaults()
    changed = [
        k for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k, defaults.get(k)) != v
    ]
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k, defaults.get(k))!r} -> {getattr(config, k)!r}" for k in changed)
        raise ValueError(f"cannot resume: the checkpoint was trained with different settings ({detail})")
    if saved_world != world_size:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {saved_world} process(es), this run has {world_size}; "
            "the data order depends on the number of processes"
        )


@dataclass
class _Run:
    """Everything one process trains with."""

    config: TrainConfig
    context: DistContext
    train_set: Dataset
    val_set: Dataset
    classes: tuple[str, ...]
    sampler: DistributedSampler
    loader: DataLoader
    model: InceptionV2
    ema: AveragedModel
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def _layout(config: TrainConfig) -> dict[str, Any]:
    """The dtype and memory format images and weights take on the device."""
    return {
        "dtype": torch.float64 if config.float64 else torch.float32,
        "memory_format": torch.channels_last if config.channels_last else torch.contiguous_format,
    }


def _prepare(config: TrainConfig, context: DistContext) -> _Run:
    """Data, network, weight average, optimizer and schedule, in the order the random draws expect."""
    # Different dropout masks per process, as if each were a separate replica.
    torch.manual_seed(config.seed + context.rank)
    train_set, val_set, classes = build_datasets(config)
    sampler = DistributedSampler(
        train_set, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=config.seed, drop_last=True
    )
    loader = DataLoader(
        train_set, batch_size=config.batch_size, sampler=sampler, drop_last=True, num_workers=config.num_workers
    )
    if len(loader) == 0:
        raise ValueError(
            f"{len(train_set)} training images make no full batch of {config.batch_size} on each of "
            f"{context.world_size} process(es); lower --batch-size or add images"
        )
    model = build_model(config, len(classes)).to(context.device, **_layout(config))
    if config.sync_bn and context.distributed:
        model = convert_sync_batchnorm(model, context.device)
    ema = build_ema(model, config.ema_decay)
    optimizer = build_optimizer(config, model.parameters())
    scheduler = build_scheduler(config, optimizer, len(loader))
    return _Run(config, context, train_set, val_set, tuple(classes), sampler, loader, model, ema, optimizer, scheduler)


def _resume(run: _Run, source: Path) -> tuple[list[dict[str, Any]], int]:
    """Load the run's state from a checkpoint; returns the history so far and the next epoch."""
    state = load_checkpoint(source, map_location=run.context.device)
    _check_resumable(state["config"], run.config, run.context.world_size, len(state["rng"]))
    run.model.load_state_dict(state["model"])
    run.ema.load_state_dict(state["ema"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    rng = state["rng"][run.context.rank]
    torch.set_rng_state(rng["cpu"].cpu())
    if "cuda" in rng and run.context.device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"].cpu(), run.context.device)
    return list(state["history"]), int(state["epoch"])


def _train_epoch(run: _Run, net: nn.Module, epoch: int, on_step: Callable[[StepInfo], None] | None) -> Tensor:
    """One pass over the training data; returns (loss sum, correct, count) of this process."""
    config, device = run.config, run.context.device
    run.sampler.set_epoch(epoch)
    run.train_set.set_epoch(epoch)  # type: ignore[attr-defined]
    net.train()
    totals = torch.zeros(3, dtype=torch.float64)
    show = config.progress and run.context.is_main
    bar = tqdm(run.loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not show, leave=False, file=sys.stderr)
    for step, (images, labels) in enumerate(bar):
        images = images.to(device, non_blocking=True, **_layout(config))
        labels = labels.to(device, non_blocking=True)
        with autocast(device, config.bf16):
            outputs = net(images)
        loss = inception_loss(outputs, labels, config.label_smoothing, config.aux_weight)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(run.model.parameters(), config.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        run.ema.update_parameters(run.model)
        logits = outputs[0] if isinstance(outputs, tuple) else outputs
        totals += torch.tensor(
            [loss.item() * len(labels), (logits.argmax(1) == labels).sum().item(), len(labels)], dtype=torch.float64
        )
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{run.scheduler.get_last_lr()[0]:.2e}")
        if on_step is not None:
            on_step(StepInfo(epoch, step, epoch * len(run.loader) + step, loss.item(), run.context.rank))
    bar.close()
    return totals


def _save(run: _Run, epoch: int, history: list[dict[str, Any]]) -> None:
    """Rank 0: the resumable checkpoint, the metrics log and the averaged weights, each atomically."""
    out_dir = Path(run.config.out_dir)
    rng_states = _gather_rng(run.context)  # a collective: every process takes part
    if not run.context.is_main:
        return
    save_checkpoint(
        out_dir / CHECKPOINT_FILE,
        {
            "epoch": epoch + 1,
            "config": run.config.to_dict(),
            "classes": list(run.classes),
            "model": run.model.state_dict(),
            "ema": run.ema.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "rng": rng_states,
            "history": history,
        },
    )
    write_metrics(out_dir / METRICS_FILE, history)
    last = history[-1]
    metadata = {
        "epoch": epoch + 1,
        "val_acc": last["val_acc_ema"],
        "image_size": run.config.image_size,
        "train_config": run.config.to_dict(),  # rebuilds the run's starting point: build_model(TrainConfig(**...))
    }
    save_weights(out_dir / WEIGHTS_FILE, run.ema.module, run.classes, metadata)


def train(
    config: TrainConfig,
    resume: bool | str | Path = False,
    on_step: Callable[[StepInfo], None] | None = None,
) -> TrainResult:
    """Train (or, with ``resume``, continue training) as ``config`` says; see the module docstring.

    ``resume=True`` reads ``<out_dir>/checkpoint.pt``; a path reads that file. Under ``torchrun``
    each process calls this; rank 0 alone writes files. ``on_step`` is called after every step.
    Bad settings, data or checkpoints raise ``ValueError`` (or ``FileNotFoundError``) before
    anything is written.
    """
    check_out_dir(config, resume)
    context = init_distributed(config.device, config.dist_timeout)
    try:
        if config.bf16:
            check_bf16(context.device)
        run = _prepare(config, context)
        history: list[dict[str, Any]] = []
        start_epoch = 0
        if resume:
            source = Path(config.out_dir) / CHECKPOINT_FILE if resume is True else Path(resume)
            history, start_epoch = _resume(run, source)
        net: nn.Module = run.model
        if context.distributed:
            device = context.device
            net = DistributedDataParallel(run.model, device_ids=[device.index] if device.type == "cuda" else None)
        val_shard = _materialize(_shard(run.val_set, context))
        started = time.perf_counter()
        for epoch in range(start_epoch, config.epochs):
            totals = _train_epoch(run, net, epoch, on_step)
            record = _epoch_record(run, epoch, totals, val_shard)
            record.update(lr=run.scheduler.get_last_lr()[0], seconds=round(time.perf_counter() - started, 2))
            history.append(record)
            _save(run, epoch, history)
            if config.progress and context.is_main:
                tqdm.write(summary_line(record), file=sys.stderr)
            if context.distributed:
                dist.barrier()  # every process returns only once the epoch's checkpoint is on disk
    finally:
        close_distributed()
    return TrainResult(
        model=run.model.eval(),
        ema_model=run.ema.module.eval(),
        history=history,
        classes=run.classes,
        val_set=run.val_set,
        checkpoint=Path(config.out_dir) / CHECKPOINT_FILE if context.is_main and history else None,
    )


def _epoch_record(run: _Run, epoch: int, totals: Tensor, val_shard: Dataset) -> dict[str, Any]:
    """Training averages and validation results (each process scores its shard; the sums are all-reduced)."""
    config, context = run.config, run.context
    totals = all_reduce_sum(totals, context)
    num_classes = len(run.classes)
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "num_classes": num_classes,
        "train_loss": float(totals[0] / totals[2]),
        "train_acc": float(totals[1] / totals[2]),
    }
    for suffix, net in (("", run.model), ("_ema", run.ema.module)):
        result = evaluate(
            net, val_shard, num_classes, config.batch_size, context.device, config.channels_last, config.bf16
        )
        confusion = all_reduce_sum(result.confusion.clone(), context)
        loss_sum = float(all_reduce_sum(torch.tensor([result.loss_sum], dtype=torch.float64), context))
        merged = Evaluation(loss_sum, confusion)
        record[f"val_loss{suffix}"] = merged.loss
        record[f"val_acc{suffix}"] = merged.accuracy
        record[f"confusion{suffix}"] = confusion.tolist()
    return record


def summary_line(record: dict[str, Any]) -> str:
    """One line per epoch: training and validation loss and accuracy, the weight average's accuracy, time."""
    return (
        f"epoch {record['epoch']}: train loss {record['train_loss']:.3f} acc {record['train_acc']:.3f} | "
        f"val loss {record['val_loss']:.3f} acc {record['val_acc']:.3f} | weight average acc "
        f"{record['val_acc_ema']:.3f} | {record['seconds']:.0f} s"
    )
