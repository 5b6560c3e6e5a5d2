"""Training Inception V2: one loop for a notebook, the command line, and ``torchrun`` on many processes.

>>> result = train(TrainConfig.preset("cpu", out_dir="runs/shapes"))   # or: python -m inception_lib train
>>> result.history[-1]["val_acc_ema"]

Every epoch ends with an evaluation of the weights and of their exponential moving average on the
held-out set, a line in ``metrics.jsonl`` and an atomically written ``checkpoint.pt`` holding
everything the run depends on: model, optimizer, schedule, weight average, every process's random
state and the epoch. ``resume=True`` continues from it; because the data order and the images are
functions of (seed, epoch) alone, a resumed run ends bit for bit where an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .datasets import ImageFolderDataset, ShapesDataset
from .distributed import DistContext, all_reduce_sum, close_distributed, convert_sync_batchnorm, init_distributed
from .evaluation import Evaluation, autocast, evaluate
from .history import METRICS_FILE, write_metrics
from .losses import inception_loss
from .model import InceptionV2
from .recipe import (
    PRESETS,
    RESUMABLE_CHANGES,
    TrainConfig,
    build_ema,
    build_optimizer,
    build_scheduler,
    config_field_defaults,
)
from .sensitivity import shift_batchnorm

CHECKPOINT_FILE = "checkpoint.pt"


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


def build_datasets(config: TrainConfig) -> tuple[Dataset, Dataset, tuple[str, ...]]:
    """Training set (its ``set_epoch`` varies images or flips per epoch), validation set, class names."""
    if config.data == "shapes":
        train_set = ShapesDataset(
            config.train_size, config.image_size, seed=config.seed, split="train", fresh_each_epoch=config.fresh_data
        )
        return (
            train_set,
            ShapesDataset(config.val_size, config.image_size, seed=config.seed, split="val"),
            train_set.classes,
        )
    folder = ImageFolderDataset(config.data, config.image_size, flip=True, seed=config.seed)
    if config.val_data is not None:
        val = ImageFolderDataset(config.val_data, config.image_size)
        if val.classes != folder.classes:
            raise ValueError(f"--val-data classes {val.classes} differ from --data classes {folder.classes}")
        return folder, val, folder.classes
    # A seeded, stratified hold-out: the same images are held out on every process and every resume.
    order = torch.randperm(len(folder), generator=torch.Generator().manual_seed(config.seed)).tolist()
    held: list[int] = []
    for label in range(len(folder.classes)):
        members = [i for i in order if folder.label(i) == label]
        held += members[: max(1, round(config.val_fraction * len(members)))]
    kept = sorted(set(range(len(folder))) - set(held))
    if not kept:
        raise ValueError(f"{config.data} has too few images to hold out {config.val_fraction:.0%} for validation")
    unflipped = copy.copy(folder)
    unflipped.flip = False
    return _EpochSubset(folder, kept), Subset(unflipped, sorted(held)), folder.classes


class _EpochSubset(Subset):
    """A ``Subset`` that forwards ``set_epoch`` to the dataset it views."""

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]


def build_model(config: TrainConfig, num_classes: int) -> InceptionV2:
    """The network ``config`` describes, initialized for training (BatchNorm shift and momentum, classifier)."""
    model = InceptionV2(num_classes=num_classes, aux_logits=config.aux_logits, dropout=config.dropout, seed=config.seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = config.bn_momentum
    shift_batchnorm(model, config.bn_shift)
    if config.zero_head:
        heads = [model.fc] + ([model.features.aux.fc] if model.features.aux is not None else [])
        for head in heads:
            nn.init.zeros_(head.weight)
    return model


def check_bf16(device: torch.device) -> None:
    """``ValueError`` unless ``device`` runs bfloat16 natively (autocast would be emulated and slow)."""
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        supported = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    if not supported:
        raise ValueError(f"--bf16 needs bfloat16 support on {device} (AVX-512 BF16/AMX CPU or an Ampere+ GPU)")


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
    changed = [k for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES and saved.get(k) != v]
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {getattr(config, k)!r}" for k in changed)
        raise ValueError(f"cannot resume: the checkpoint was trained with different settings ({detail})")
    if saved_world != world_size:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {saved_world} process(es), this run has {world_size}; "
            "the data order depends on the number of processes"
        )


def train(
    config: TrainConfig,
    resume: bool | str | Path = False,
    on_step: Callable[[StepInfo], None] | None = None,
) -> TrainResult:
    """Train (or, with ``resume``, continue training) as ``config`` says; see the module docstring.

    ``resume=True`` reads ``<out_dir>/checkpoint.pt``; a path reads that file. Under ``torchrun``
    each process calls this; rank 0 alone writes files. ``on_step`` is called after every step.
    """
    context = init_distributed(config.device, config.dist_timeout)
    try:
        return _train(config, context, resume, on_step)
    finally:
        close_distributed()


def _train(
    config: TrainConfig, context: DistContext, resume: bool | str | Path, on_step: Callable[[StepInfo], None] | None
) -> TrainResult:
    device = context.device
    if config.bf16:
        check_bf16(device)
    out_dir = Path(config.out_dir)
    checkpoint_path = out_dir / CHECKPOINT_FILE
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
    steps_per_epoch = len(loader)

    model = build_model(config, len(classes))
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    dtype = torch.float64 if config.float64 else torch.float32
    model = model.to(device, dtype=dtype, memory_format=memory_format)
    if config.sync_bn and context.distributed:
        model = convert_sync_batchnorm(model, device)
    ema = build_ema(model, config.ema_decay)
    optimizer = build_optimizer(config, model.parameters())
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)
    history: list[dict[str, Any]] = []
    start_epoch = 0

    if resume:
        source = checkpoint_path if resume is True else Path(resume)
        state = load_checkpoint(source, map_location=device)
        _check_resumable(state["config"], config, context.world_size, len(state["rng"]))
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng = state["rng"][context.rank]
        torch.set_rng_state(rng["cpu"].cpu())
        if "cuda" in rng and device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), device)
        history, start_epoch = list(state["history"]), int(state["epoch"])

    net: nn.Module = model
    if context.distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    val_shard = _materialize(_shard(val_set, context))
    show = config.progress and context.is_main
    started = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)  # type: ignore[attr-defined]
        net.train()
        totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not show, leave=False, file=sys.stderr)
        for step, (images, labels) in enumerate(bar):
            images = images.to(device, dtype=dtype, memory_format=memory_format, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with autocast(device, config.bf16):
                outputs = net(images)
            loss = inception_loss(outputs, labels, config.label_smoothing, config.aux_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            ema.update_parameters(model)
            logits = outputs[0] if isinstance(outputs, tuple) else outputs
            totals += torch.tensor(
                [loss.item() * len(labels), (logits.argmax(1) == labels).sum().item(), len(labels)], dtype=torch.float64
            )
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            if on_step is not None:
                on_step(StepInfo(epoch, step, epoch * steps_per_epoch + step, loss.item(), context.rank))
        bar.close()
        record = _epoch_record(config, context, epoch, totals, model, ema.module, val_shard, len(classes))
        record.update(lr=scheduler.get_last_lr()[0], seconds=round(time.perf_counter() - started, 2))
        history.append(record)
        rng_states = _gather_rng(context)
        if context.is_main:
            save_checkpoint(
                checkpoint_path,
                {
                    "epoch": epoch + 1,
                    "config": config.to_dict(),
                    "classes": list(classes),
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": rng_states,
                    "history": history,
                },
            )
            write_metrics(out_dir / METRICS_FILE, history)
            if show:
                tqdm.write(_summary_line(record), file=sys.stderr)
        if context.distributed:
            dist.barrier()  # every process returns only once the epoch's checkpoint is on disk
    return TrainResult(
        model=model.eval(),
        ema_model=ema.module.eval(),
        history=history,
        classes=tuple(classes),
        val_set=val_set,
        checkpoint=checkpoint_path if context.is_main and history else None,
    )


def _epoch_record(
    config: TrainConfig,
    context: DistContext,
    epoch: int,
    totals: Tensor,
    model: nn.Module,
    ema_model: nn.Module,
    val_shard: Dataset,
    num_classes: int,
) -> dict[str, Any]:
    """Training averages and validation results (each process scores its shard; the sums are all-reduced)."""
    totals = all_reduce_sum(totals, context)
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "num_classes": num_classes,
        "train_loss": float(totals[0] / totals[2]),
        "train_acc": float(totals[1] / totals[2]),
    }
    for suffix, net in (("", model), ("_ema", ema_model)):
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


def _summary_line(record: dict[str, Any]) -> str:
    return (
        f"epoch {record['epoch']}: train loss {record['train_loss']:.3f} acc {record['train_acc']:.3f} | "
        f"val loss {record['val_loss']:.3f} acc {record['val_acc']:.3f} | weight average acc "
        f"{record['val_acc_ema']:.3f} | {record['seconds']:.0f} s"
    )


# --- command line: python -m inception_lib train [--preset NAME] [--option value ...] ---


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


def _cli_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``train``: one option per ``TrainConfig`` field, defaults taken from ``--preset``."""
    rows = "\n".join(
        f"  {name:<11} {', '.join(f'{k}={v}' for k, v in values.items()) or 'the defaults'}"
        for name, values in PRESETS.items()
    )
    parser = commands.add_parser(
        "train",
        help="train Inception V2 (built-in shapes or your own image folders); works under torchrun",
        description="Train Inception V2. Options left out take the preset's value (see below). "
        "Under `torchrun --nproc_per_node N -m inception_lib train ...` the processes train one "
        "model together (DDP); rank 0 writes OUT_DIR/checkpoint.pt and OUT_DIR/metrics.jsonl.",
        epilog=f"presets (changes from the option defaults shown above):\n{rows}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=tuple(PRESETS), default="paper", help="starting point (default: paper)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue a run from OUT_DIR/checkpoint.pt, or from the file given",
    )
    defaults = config_field_defaults()
    for f in fields(TrainConfig):
        help_text = f"{f.metadata['help']} (default: {defaults[f.name]})"
        if isinstance(defaults[f.name], bool):
            parser.add_argument(_cli_name(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = type(defaults[f.name]) if defaults[f.name] is not None else str
            parser.add_argument(
                _cli_name(f.name), type=kind, default=None, choices=f.metadata.get("choices"), help=help_text
            )
    parser.set_defaults(run=run_cli)
    return parser


def run_cli(args: argparse.Namespace) -> int:
    """Build the config from ``--preset`` plus the options given, train, print the last epoch."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    try:
        config = TrainConfig.preset(args.preset, **given)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    result = train(config, resume=args.resume)
    if result.checkpoint is not None:
        print(_summary_line(result.history[-1]))
        print(f"checkpoint: {result.checkpoint}")
    return 0
