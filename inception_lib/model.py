"""Inception V2 as the design document describes it: stem, 3 x F5, grid reduction, 5 x F6,
auxiliary head, grid reduction, 2 x F7, classifier."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .blocks import BasicConv2d
from .modules import (
    GridReduction,
    InceptionAux,
    InceptionBlock,
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
    # TF-slim trains Inception v3 with keep probability 0.8 before the classifier.
    dropout: float = 0.2
    f5_repeats: int = 3
    f6_widths: tuple[int, ...] = (128, 160, 160, 160, 192)
    f6_n: int = 7
    reduction_1: tuple[tuple[int, int], tuple[int, int]] = ((64, 178), (64, 302))
    reduction_2: tuple[tuple[int, int], tuple[int, int]] = ((192, 194), (192, 318))
    # None: torch's global RNG; an int: weights drawn from a private generator seeded with it.
    seed: int | None = field(default=None, compare=False)


class InceptionOutputs(NamedTuple):
    """What the model returns when the auxiliary head runs (training by default)."""

    logits: Tensor
    aux_logits: Tensor


def _stem() -> nn.Sequential:
    """The seven layers before the first Inception module (the layer table's first rows)."""
    return nn.Sequential(
        BasicConv2d(3, 32, 3, stride=2),
        BasicConv2d(32, 32, 3),
        BasicConv2d(32, 64, 3, padding=1),
        nn.MaxPool2d(3, stride=2),
        BasicConv2d(64, 80, 3),
        BasicConv2d(80, 192, 3, stride=2),
        BasicConv2d(192, 288, 3, padding=1),
    )


class InceptionFeatures(nn.Module):
    """The convolutional trunk: 3 x H x W image -> 2048 x 8 x 8 features (at 299 x 299).

    The auxiliary head sits here because it reads the 17 x 17 grid in the middle of the trunk.
    ``forward`` returns ``(features, aux_logits)``; ``aux_logits`` is None unless ``with_aux``.
    """

    def __init__(self, config: InceptionV2Config) -> None:
        super().__init__()
        (a1, b1) = config.reduction_1
        (a2, b2) = config.reduction_2
        self.stem = _stem()
        self.mixed_5 = RepeatedModule(lambda: InceptionModuleF5(288), config.f5_repeats)
        self.reduction_1 = GridReduction(288, a1, b1)
        mid = a1[1] + b1[1] + 288
        self.mixed_6 = f6_stack(mid, config.f6_widths, config.f6_n)
        self.aux = InceptionAux(768, config.num_classes) if config.aux_logits else None
        self.reduction_2 = GridReduction(768, a2, b2)
        self.mixed_7 = nn.Sequential(
            InceptionModuleF7(a2[1] + b2[1] + 768),
            InceptionModuleF7(2048),
        )

    def forward(self, x: Tensor, with_aux: bool = False) -> tuple[Tensor, Tensor | None]:
        x = self.stem(x)
        x = self.mixed_5(x)
        x = self.reduction_1(x)
        x = self.mixed_6(x)
        aux = self.aux(x) if with_aux and self.aux is not None else None
        x = self.reduction_2(x)
        x = self.mixed_7(x)
        return x, aux


class InceptionV2(nn.Module):
    """Inception V2 (Szegedy et al., CVPR 2016, Table 1) with the design document's channel plan.

    >>> model = InceptionV2(num_classes=3)          # or InceptionV2(InceptionV2Config(...))
    >>> model.train()(x)   # InceptionOutputs(logits, aux_logits) when the aux head is on
    >>> model.eval()(x)    # logits

    ``forward_features`` gives the 2048-channel map, ``forward_head`` the logits from it.
    """

    def __init__(self, config: InceptionV2Config | None = None, **overrides: object) -> None:
        super().__init__()
        self.config = replace(config or InceptionV2Config(), **overrides)  # type: ignore[arg-type]
        # With a seed, layer constructors' default draws must not advance torch's global RNG either.
        with torch.random.fork_rng(devices=[], enabled=self.config.seed is not None):
            self.features = InceptionFeatures(self.config)
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.dropout = nn.Dropout(self.config.dropout)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(2048, self.config.num_classes)
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
        info, stride = [], 1
        for name in ("stem", "mixed_5", "reduction_1", "mixed_6", "reduction_2", "mixed_7"):
            module = getattr(self.features, name)
            stride *= _stride(module)
            info.append({"module": f"features.{name}", "num_chs": _out_channels(module), "reduction": stride})
        return info


def init_weights(model: nn.Module, seed: int | None = None) -> None:
    """He-normal (fan_out) convolutions, BatchNorm at identity, linear layers N(0, 0.01), zero biases.

    He init keeps activation variance steady through the ReLUs, which matters for training from
    scratch. With ``seed`` the draws come from a private generator: same seed, same weights,
    whatever else used torch's global RNG.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01, generator=generator)
            nn.init.zeros_(m.bias)


# --- spatial arithmetic: the grid size each layer produces, for input checks and minimum sizes ---


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def output_length(module: nn.Module, length: int, axis: int = 0) -> int:
    """Length along ``axis`` (0: height, 1: width) of ``module``'s output for an input of ``length``.

    Returns 0 when some layer inside would receive an input smaller than its kernel. Parallel
    branches must all be valid, so a block yields its smallest branch.
    """
    if length < 1:
        return 0
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
        k, s, p = (_pair(getattr(module, a))[axis] for a in ("kernel_size", "stride", "padding"))
        d = _pair(getattr(module, "dilation", 1))[axis]
        return max(0, math.floor((length + 2 * p - d * (k - 1) - 1) / s) + 1)
    if isinstance(module, InceptionBlock):
        lengths = []
        for name, branch in module.named_branches():
            out = output_length(branch, length, axis)
            lengths += [output_length(arm, out, axis) for arm in module.fork_arms(name)] or [out]
        return min(lengths)
    if isinstance(module, InceptionFeatures):
        module = nn.Sequential(*(m for n, m in module.named_children() if n != "aux"))
    for child in module.children():
        length = output_length(child, length, axis)
    return length


def _stride(module: nn.Module) -> int:
    """Total stride of a stage: input length over output length, on a large grid."""
    big = 2**12
    return round(big / output_length(module, big))


def _out_channels(stage: nn.Module) -> int:
    last = stage[-1] if isinstance(stage, nn.Sequential) else stage
    return last.out_channels  # BasicConv2d and InceptionBlock both know theirs


def _aux_grid(model: InceptionV2, length: int, axis: int) -> int:
    """Length of the auxiliary head's last convolution output for an input of ``length``."""
    f = model.features
    assert f.aux is not None
    for stage in (f.stem, f.mixed_5, f.reduction_1, f.mixed_6):
        length = output_length(stage, length, axis)
    for layer in (f.aux.pool, f.aux.conv0, f.aux.conv1):
        length = output_length(layer, length, axis)
    return length


def minimum_input_size(model: InceptionV2, with_aux: bool) -> int:
    """Smallest square input the network accepts, derived from its layers (binary search)."""
    lo, hi = 1, 4096

    def ok(n: int) -> bool:
        trunk = output_length(model.features, n) >= 1
        return trunk and (not with_aux or _aux_grid(model, n, 0) >= 1)

    while lo < hi:
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def check_input(model: InceptionV2, x: Tensor, with_aux: bool) -> None:
    """Raise ``ValueError`` saying what is wrong with ``x`` and what is allowed."""
    if not isinstance(x, Tensor):
        raise ValueError(f"expected a torch.Tensor of shape (batch, 3, height, width), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(
            f"expected a 4-D tensor (batch, 3, height, width), got {x.dim()}-D with shape {tuple(x.shape)}"
            + ("; add a batch dimension with x.unsqueeze(0)" if x.dim() == 3 else "")
        )
    if not x.is_floating_point():
        raise ValueError(f"expected a floating-point tensor (e.g. torch.float32), got dtype {x.dtype}; use x.float()")
    if x.shape[1] != 3:
        raise ValueError(f"expected 3 input channels (RGB), got {x.shape[1]} in shape {tuple(x.shape)}")
    height, width = x.shape[2], x.shape[3]
    minimum = model.min_input_size_aux if with_aux else model.min_input_size
    if min(height, width) < minimum:  # type: ignore[operator]
        why = "with the auxiliary head" if with_aux else "without the auxiliary head"
        hint = " (call model.eval(), or build with aux_logits=False, to allow smaller inputs)" if with_aux else ""
        raise ValueError(
            f"input {height}x{width} is too small: the network {why} needs at least {minimum}x{minimum}{hint}"
        )
    if model.training and x.shape[0] == 1:
        grids = [output_length(model.features, n, axis) for axis, n in enumerate((height, width))]
        if with_aux:
            grids = [
                min(g, _aux_grid(model, n, axis))
                for axis, (g, n) in enumerate(zip(grids, (height, width), strict=True))
            ]
        if grids[0] * grids[1] == 1:
            raise ValueError(
                f"a batch of 1 at {height}x{width} in training mode reaches a 1x1 grid, where BatchNorm "
                "has one value per channel and cannot compute batch statistics; use a batch of 2 or "
                "more, a larger input, or model.eval()"
            )
