"""The *effective* receptive field of Luo, Li, Urtasun & Zemel, "Understanding the Effective
Receptive Field in Deep Convolutional Neural Networks" (NIPS 2016): how the magnitude of a unit's
gradient with respect to the input is spread inside its theoretical field, with real weights.

``effective_receptive_field`` averages |d unit / d input| over images; ``EffectiveField.area_share``
is the share of the theoretical field holding 95% of it (this library's measure; Luo et al. size the
effective field by the spread of a roughly Gaussian blob instead).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ...model.runtime import evaluating
from .analytic import analytic_receptive_fields
from .fields import Box, Unit
from .graph import traced_root


class _Stop(Exception):
    """Raised by a forward hook once the layer of interest has run: the rest is not needed."""


@dataclass(frozen=True)
class EffectiveField:
    """Mean |d unit / d input| over random inputs (channels summed), with the theoretical field.

    ``gradient`` is an (H, W) array scaled so its sum is 1; ``theoretical`` is the analytic field
    of ``unit`` clipped to the image.
    """

    name: str
    unit: Unit
    gradient: np.ndarray
    theoretical: Box

    def area_share(self, mass: float = 0.95) -> float:
        """Pixels needed to hold ``mass`` of the gradient (largest first), over the theoretical
        field's area (inside the image). Luo et al. observe that the gradient fills only a small
        part of the theoretical field; this number is how the library measures that part."""
        if not 0 < mass <= 1:
            raise ValueError(f"mass must be in (0, 1], got {mass}")
        ordered = np.sort(self.gradient.ravel())[::-1]
        needed = int(np.searchsorted(np.cumsum(ordered), mass * ordered.sum())) + 1
        return needed / (self.theoretical.height * self.theoretical.width)

    def spread(self) -> tuple[float, float]:
        """Standard deviation of the gradient mass along (height, width), in pixels."""
        rows, cols = np.indices(self.gradient.shape)
        weights = self.gradient / self.gradient.sum()
        return tuple(float(np.sqrt((weights * (c - (weights * c).sum()) ** 2).sum())) for c in (rows, cols))  # type: ignore[return-value]


def effective_receptive_field(
    model: nn.Module,
    name: str,
    input_size: int = 299,
    unit: Unit | None = None,
    samples: int = 4,
    seed: int = 0,
    in_channels: int = 3,
    images: Tensor | None = None,
) -> EffectiveField:
    """The effective receptive field of ``unit`` (default: the grid's centre) of module ``name``,
    with the model's own weights in eval mode, averaged over ``images`` (N, C, H, W) or, by
    default, over ``samples`` standard-normal images of ``input_size`` drawn from ``seed``."""
    root, prefix = traced_root(model)
    if not name.startswith(prefix):
        raise ValueError(f"module names of a {type(model).__name__} start with {prefix!r}, got {name!r}")
    module = root.get_submodule(name[len(prefix) :])
    if images is None:
        generator = torch.Generator().manual_seed(seed)
        images = torch.randn(samples, in_channels, input_size, input_size, generator=generator)
    elif images.dim() != 4:
        raise ValueError(f"images must be a (N, C, H, W) batch, got shape {tuple(images.shape)}")
    height, width = images.shape[2:]
    field = analytic_receptive_fields(model, (height, width))[name]
    unit = unit or (field.grid[0] // 2, field.grid[1] // 2)
    theoretical = field.seen(*unit)
    if theoretical is None:
        raise ValueError(f"unit {unit} of {name} sees only padding; choose a unit whose field meets the image")
    image = images.detach().clone().requires_grad_()
    captured: list[Tensor] = []

    def keep(_module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        captured.append(output)
        raise _Stop

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad(), evaluating(root):
            with contextlib.suppress(_Stop):
                root(image)
            (gradient,) = torch.autograd.grad(captured[0][:, :, unit[0], unit[1]].sum(), image)
    finally:
        handle.remove()
    magnitude = gradient.abs().sum(dim=1).mean(dim=0).double().numpy()
    return EffectiveField(name, unit, magnitude / magnitude.sum(), theoretical)
