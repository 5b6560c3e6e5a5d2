"""Inception V2 as the design document describes it: stem, 3 x F5, grid reduction, 5 x F6,
auxiliary head, grid reduction, 2 x F7, classifier."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from .blocks import BasicConv2d
from .geometry import check_input, minimum_input_size, stage_channels, stage_stride
from .init import init_weights
from .modules import (
    GridReduction,
    InceptionAux,
    InceptionModuleF5,
    InceptionModuleF7,
    RepeatedModule,
    f6_stack,
)


@dataclass(frozen=True)
class InceptionV2Config:
    """Everything that shapes the network. The defaults are the design document's channel plan."""

    num_classes: int = 1000
    aux_logits: bool = True
    # TF-slim trains Inception v3 with keep probability 0.8 before the classifier (not in the paper).
    dropout: float = 0.2
    f5_repeats: int = 3
    f6_widths: tuple[int, ...] = (128, 160, 160, 160, 192)
    f6_n: int = 7
    reduction_1: tuple[tuple[int, int], tuple[int, int]] = ((64, 178), (64, 302))
    reduction_2: tuple[tuple[int, int], tuple[int, int]] = ((192, 194), (192, 318))
    # Multiplies every channel count of the plan (1.0: the design document's network). Smaller
    # values keep the topology, layer for layer, at a fraction of the cost.
    width: float = 1.0
    # None: torch's global RNG; an int: weights drawn from a private generator seeded with it.
    seed: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.width <= 4:
            raise ValueError(f"width must be in (0, 4], got {self.width}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {self.num_classes}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def channels(self, count: int) -> int:
        """``count`` channels of the design document's plan at this config's ``width``."""
        return max(1, round(count * self.width))


class InceptionOutputs(NamedTuple):
    """What the model returns when the auxiliary head runs (training by default)."""

    logits: Tensor
    aux_logits: Tensor


def _stem(c: InceptionV2Config) -> nn.Sequential:
    """The seven layers before the first Inception module (the layer table's first rows)."""
    widths = [c.channels(n) for n in (32, 32, 64, 80, 192, 288)]
    return nn.Sequential(
        BasicConv2d(3, widths[0], 3, stride=2),
        BasicConv2d(widths[0], widths[1], 3),
        BasicConv2d(widths[1], widths[2], 3, padding=1),
        nn.MaxPool2d(3, stride=2),
        BasicConv2d(widths[2], widths[3], 3),
        BasicConv2d(widths[3], widths[4], 3, stride=2),
        BasicConv2d(widths[4], widths[5], 3, padding=1),
    )


class InceptionFeatures(nn.Module):
    """The convolutional trunk: 3 x H x W image -> 2048 x 8 x 8 features (at 299 x 299).

    The auxiliary head sits here because it reads the 17 x 17 grid in the middle of the trunk.
    ``forward`` returns ``(features, aux_logits)``; ``aux_logits`` is None unless ``with_aux``.
    """

    # The trunk's stages in execution order, and the one whose output the auxiliary head reads.
    stages: ClassVar[tuple[str, ...]] = ("stem", "mixed_5", "reduction_1", "mixed_6", "reduction_2", "mixed_7")
    aux_after: ClassVar[str] = "mixed_6"

    def __init__(self, config: InceptionV2Config) -> None:
        super().__init__()
        c = config.channels

        def pairs(plan: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
            return tuple((c(a), c(b)) for a, b in plan)

        self.stem = _stem(config)
        width = self.stem[-1].out_channels
        self.mixed_5 = RepeatedModule(
            lambda: InceptionModuleF5(width, (c(64), c(96)), (c(48), c(64)), c(64), c(64)), config.f5_repeats
        )
        self.reduction_1 = GridReduction(self.mixed_5[-1].out_channels, *pairs(config.reduction_1))
        self.mixed_6 = f6_stack(
            self.reduction_1.out_channels, [c(w) for w in config.f6_widths], config.f6_n, out_branch=c(192)
        )
        width = self.mixed_6[-1].out_channels
        self.aux = InceptionAux(width, config.num_classes, c(128), c(768)) if config.aux_logits else None
        self.reduction_2 = GridReduction(width, *pairs(config.reduction_2))
        f7 = {"double_3x3": (c(448), c(384)), "single_3x3": c(384), "pool_proj": c(192), "conv_1x1": c(320)}
        first = InceptionModuleF7(self.reduction_2.out_channels, **f7)
        self.mixed_7 = nn.Sequential(first, InceptionModuleF7(first.out_channels, **f7))

    @property
    def out_channels(self) -> int:
        return self.mixed_7[-1].out_channels

    def forward(self, x: Tensor, with_aux: bool = False) -> tuple[Tensor, Tensor | None]:
        x = self.stem(x)  # 3 x 299 x 299 -> 288 x 35 x 35
        x = self.mixed_5(x)  # 288 x 35 x 35 (3 x F5, Figure 5)
        x = self.reduction_1(x)  # 768 x 17 x 17 (grid reduction, Figure 10)
        x = self.mixed_6(x)  # 768 x 17 x 17 (5 x F6, Figure 6)
        aux = self.aux(x) if with_aux and self.aux is not None else None  # num_classes
        x = self.reduction_2(x)  # 1280 x 8 x 8 (grid reduction)
        x = self.mixed_7(x)  # 2048 x 8 x 8 (2 x F7, Figure 7)
        return x, aux


class InceptionV2(nn.Module):
    """Inception V2 (Szegedy et al., CVPR 2016, Table 1) with the design document's channel plan.

    >>> model = InceptionV2(num_classes=3)          # or InceptionV2(InceptionV2Config(...))
    >>> model.train()(x)   # InceptionOutputs(logits, aux_logits) when the aux head is on
    >>> model.eval()(x)    # logits

    ``forward_features`` gives the 2048-channel map, ``forward_head`` the logits from it.
    """

    def __init__(
        self, config: InceptionV2Config | None = None, *, device: torch.device | str | None = None, **overrides: object
    ) -> None:
        """``overrides`` replace fields of ``config`` (e.g. ``num_classes=3``). ``device="meta"``
        builds the layers without memory or initialization: shapes and counts only."""
        super().__init__()
        self.config = replace(config or InceptionV2Config(), **overrides)  # type: ignore[arg-type]
        # With a seed, layer constructors' default draws must not advance torch's global RNG either.
        placed = torch.device(device) if device is not None else nullcontext()
        with torch.random.fork_rng(devices=[], enabled=self.config.seed is not None), placed:
            self.features = InceptionFeatures(self.config)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(self.config.dropout)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(self.features.out_channels, self.config.num_classes)
        if torch.device(device or "cpu").type != "meta":
            init_weights(self, self.config.seed)
        self.min_input_size = minimum_input_size(self, with_aux=False)
        self.min_input_size_aux = minimum_input_size(self, with_aux=True) if self.config.aux_logits else None

    @property
    def num_classes(self) -> int:
        return self.fc.out_features

    def forward_features(self, x: Tensor) -> Tensor:
        """The trunk's output (2048 x 8 x 8 at 299 x 299), without the auxiliary head."""
        check_input(self, x, with_aux=False)
        return self.features(x)[0]

    def forward_head(self, features: Tensor) -> Tensor:
        """Global average pool, dropout and the linear classifier."""
        return self.fc(self.flatten(self.dropout(self.avgpool(features))))

    def forward(self, x: Tensor, with_aux: bool | None = None) -> Tensor | InceptionOutputs:
        """Logits; ``InceptionOutputs(logits, aux_logits)`` when the auxiliary head runs.

        ``with_aux=None`` runs the head in training mode only. ``with_aux=True`` forces it, e.g.
        to summarise it in eval mode, where BatchNorm accepts a batch of one.
        """
        if with_aux is None:
            with_aux = self.training and self.features.aux is not None
        if with_aux and self.features.aux is None:
            raise ValueError("with_aux=True, but this model was built with aux_logits=False")
        check_input(self, x, with_aux=with_aux)
        features, aux = self.features(x, with_aux=with_aux)
        logits = self.forward_head(features)
        return InceptionOutputs(logits, aux) if aux is not None else logits

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier (and the auxiliary one) for a new number of classes."""
        self.fc = nn.Linear(self.fc.in_features, num_classes)
        if self.features.aux is not None:
            self.features.aux.fc = nn.Linear(self.features.aux.fc.in_features, num_classes)
        self.config = replace(self.config, num_classes=num_classes)

    def feature_info(self) -> list[dict[str, object]]:
        """Per stage (timm style): qualified module name, output channels, and total stride."""
        info, stride, channels = [], 1, 3
        for name in self.features.stages:
            module = getattr(self.features, name)
            stride *= stage_stride(module)
            channels = stage_channels(module, channels)
            info.append({"module": f"features.{name}", "num_chs": channels, "reduction": stride})
        return info
