"""Training recipes: every hyper-parameter of a run in one ``TrainConfig``, and named presets.

``paper`` (``TrainConfig``'s defaults) follows Section 8 of the paper where it gives a value:
RMSProp with decay 0.9 and ε = 1.0, learning rate 0.045 decayed by 0.94 every two epochs, gradient
clipping at 2.0, batch 32 (per replica; the paper ran 50), 100 epochs, evaluation with a running
average of the parameters; plus label smoothing ε = 0.1 (Section 7), the auxiliary head (Section 4)
and 299 × 299 inputs (Table 1). Where the paper gives no value, the preset takes TF-slim's
Inception v3 training defaults (dropout 0.2, i.e. keep probability 0.8; weight decay 4e-5; RMSProp
momentum 0.9; auxiliary-loss weight 0.4), the running-average decay 0.9999 of TensorFlow's older
Inception training code (tensorflow/models ``inception/``), or PyTorch's defaults (BatchNorm
momentum 0.1, shift 0). Each field's ``source`` metadata names where its default comes from, and
its help says so. ``small-data`` swaps in AdamW with a linear warm-up and a cosine decay, which is
forgiving on a few thousand images. ``cpu`` is ``small-data`` tuned to learn the built-in shapes on
a laptop CPU within minutes (docs/training.md). Both are the course's own choices.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, replace
from typing import Any

from ..model import InceptionV2Config
from ..model.geometry import minimum_input_size_of
from .losses import AUX_WEIGHT, LABEL_SMOOTHING


def _opt(default: Any, help: str, source: str = "course", **extra: Any) -> Any:
    """A config field carrying its ``--help`` text (the CLI is generated from these fields) and the
    ``source`` of its default, the ``paper`` preset's value: a section of the paper ("§8"), "TF-slim",
    "TF Inception code", "PyTorch" or "course" (this library's own choice)."""
    return field(default=default, metadata={"help": help, "source": source, **extra})


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Build one with ``TrainConfig.preset(name, **overrides)``."""

    # data
    data: str = _opt(
        "shapes", "'shapes' (built-in generated circles/squares/triangles) or a folder root/<class>/<images>"
    )
    val_data: str | None = _opt(None, "folder of validation images (default: hold out --val-fraction of --data)")
    val_fraction: float = _opt(0.2, "share of a --data folder held out for validation when --val-data is not given")
    train_size: int = _opt(1800, "generated training images per epoch (shapes only)")
    val_size: int = _opt(600, "generated held-out validation images (shapes only)")
    fresh_data: bool = _opt(True, "draw new shape images every epoch instead of repeating the same ones (shapes only)")
    image_size: int = _opt(
        299, "square input side in pixels; the network needs 299 with the aux head, 75 without", source="Table 1"
    )
    # model
    width: float = _opt(1.0, "multiplier of every channel count (1.0: the design document's network)")
    aux_logits: bool = _opt(
        True, "train with the auxiliary classifier (Section 4); needs --image-size 299", source="§4"
    )
    dropout: float = _opt(
        0.2, "dropout before the classifier (0.2: TF-slim's keep probability 0.8; the paper gives none)", "TF-slim"
    )
    bn_momentum: float = _opt(
        0.1,
        "BatchNorm running-statistics momentum (PyTorch's default and convention: weight of the new batch)",
        "PyTorch",
    )
    bn_shift: float = _opt(
        0.0,
        "initial BatchNorm shift β (PyTorch starts at 0); > 0 calms the fresh network (docs/training.md)",
        "PyTorch",
    )
    zero_head: bool = _opt(False, "start the classifier's weights at zero, so the first predictions are uniform")
    # optimization
    epochs: int = _opt(100, "training epochs (the paper's 100, Section 8)", "§8")
    batch_size: int = _opt(
        32, "images per step on each process (the global batch is this times the world size; §8: 32)", "§8"
    )
    optimizer: str = _opt(
        "rmsprop", "rmsprop (Section 8's best models), adamw or sgd", "§8", choices=("rmsprop", "adamw", "sgd")
    )
    lr: float = _opt(
        0.045, "peak learning rate (§8: 0.045 for 50 replicas of batch 32; not rescaled for other batches)", "§8"
    )
    momentum: float = _opt(
        0.9, "momentum for rmsprop and sgd (0.9: TF-slim's RMSProp momentum; §8 gives none for RMSProp)", "TF-slim"
    )
    weight_decay: float = _opt(
        4e-5,
        "weight decay (decoupled for adamw, L2 for rmsprop and sgd; 4e-5: TF-slim's; the paper gives none)",
        "TF-slim",
    )
    rmsprop_decay: float = _opt(0.9, "RMSProp's decay of the squared-gradient average (the paper's 0.9, §8)", "§8")
    rmsprop_eps: float = _opt(1.0, "RMSProp's ε (the paper's 1.0, §8)", "§8")
    schedule: str = _opt(
        "step",
        "'step': lr x lr_decay every decay_epochs (the paper, §8); 'cosine'",
        "§8",
        choices=("step", "cosine"),
    )
    lr_decay: float = _opt(0.94, "factor of the step schedule (the paper's 0.94, §8)", "§8")
    decay_epochs: float = _opt(2.0, "epochs between step-schedule decays (the paper's 2, §8)", "§8")
    warmup_epochs: float = _opt(0.0, "linear learning-rate warm-up, in epochs (the paper names none)", "§8 names none")
    grad_clip: float = _opt(
        2.0, "clip the gradient norm at this value (the paper's 2.0, §8); 0 turns clipping off", "§8"
    )
    label_smoothing: float = _opt(LABEL_SMOOTHING, "label-smoothing ε (Section 7: 0.1); 0 turns it off", "§7")
    aux_weight: float = _opt(
        AUX_WEIGHT, "weight of the auxiliary loss (TF-slim's training script: 0.4; the paper gives none)", "TF-slim"
    )
    ema_decay: float = _opt(
        0.9999,
        "decay of the running average of the weights used for evaluation (§8 evaluates such an average but "
        "gives no decay; 0.9999 is TensorFlow's Inception training code's)",
        "TF Inception code",
    )
    seed: int = _opt(0, "seed of the weights, the data order and dropout")
    # speed and hardware
    device: str = _opt("auto", "auto (cuda if available), cpu or cuda", choices=("auto", "cpu", "cuda"))
    channels_last: bool = _opt(False, "store activations channels-last (NHWC): faster convolutions on CPU and GPU")
    bf16: bool = _opt(False, "bfloat16 autocast (CPUs with AVX-512 BF16/AMX, GPUs from Ampere on)")
    float64: bool = _opt(False, "train in float64: slow, for exactness checks (e.g. 2 processes x b = 1 x 2b)")
    num_workers: int = _opt(0, "data-loading worker processes per training process")
    sync_bn: bool = _opt(False, "synchronize BatchNorm statistics across processes under torchrun")
    dist_timeout: float = _opt(300.0, "seconds a process waits for the others before the job fails")
    # output
    out_dir: str = _opt("runs/inception", "folder for checkpoint.pt and metrics.jsonl")
    progress: bool = _opt(True, "show tqdm progress bars")

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The named preset (see ``PRESETS``) with ``overrides`` applied."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return replace(cls(**PRESETS[name]), **overrides)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise ValueError(f"{f.name}={value!r} is not allowed; choose one of {choices}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value}")
        positive = ("train_size", "val_size", "epochs", "batch_size", "lr", "decay_epochs", "dist_timeout", "width")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        non_negative = ("weight_decay", "warmup_epochs", "grad_clip", "aux_weight", "bn_shift", "num_workers")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("dropout", "momentum", "bn_momentum", "rmsprop_decay", "lr_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.bf16 and self.float64:
            raise ValueError("bf16 and float64 exclude each other; choose one precision")
        minimum = minimum_input_size_of(self.model_config(), self.aux_logits)
        if self.image_size < minimum:
            trunk = minimum_input_size_of(self.model_config(), False)
            hint = f" (turn the auxiliary head off for inputs down to {trunk})" if self.aux_logits else ""
            raise ValueError(f"image_size {self.image_size} is too small: this network needs at least {minimum}{hint}")

    def model_config(self, num_classes: int = 3) -> InceptionV2Config:
        """The network this run trains, for ``num_classes`` classes."""
        return InceptionV2Config(
            num_classes=num_classes, aux_logits=self.aux_logits, dropout=self.dropout, width=self.width, seed=self.seed
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The paper preset is TrainConfig's defaults: Section 8's values where it states them, the others
# from the source each field's metadata names.
PAPER: dict[str, Any] = {}
SMALL_DATA: dict[str, Any] = {
    "optimizer": "adamw",
    "lr": 1e-3,
    "weight_decay": 0.05,
    "schedule": "cosine",
    "warmup_epochs": 1.0,
    "grad_clip": 0.0,
    "ema_decay": 0.999,
    "epochs": 30,
}
CPU: dict[str, Any] = {
    **SMALL_DATA,
    "image_size": 75,
    "aux_logits": False,
    "lr": 3e-4,
    "warmup_epochs": 0.5,
    "bn_shift": 1.0,
    "zero_head": True,
    "dropout": 0.0,
    "label_smoothing": 0.0,
    "ema_decay": 0.99,
    "train_size": 1200,
    "epochs": 8,
}
PRESETS: dict[str, dict[str, Any]] = {"paper": PAPER, "small-data": SMALL_DATA, "cpu": CPU}


def differing_fields(*names: str) -> list[Field]:
    """The ``TrainConfig`` fields whose values differ between the named presets (all presets by
    default), in declaration order; ``out_dir``, where a run writes, is not a setting of the recipe."""
    configs = [TrainConfig.preset(name) for name in names or PRESETS]
    return [
        f for f in fields(TrainConfig) if f.name != "out_dir" and len({repr(getattr(c, f.name)) for c in configs}) > 1
    ]


# Fields a resumed run may change. All but ``epochs`` leave what is computed as it was; a new
# ``epochs`` changes the cosine schedule's remaining learning rates (docs/training.md).
RESUMABLE_CHANGES = frozenset({"epochs", "out_dir", "progress", "num_workers", "dist_timeout"})


def config_field_defaults() -> dict[str, Any]:
    return {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
