"""Lower-resolution input (Section 9, Table 2): the trunk with its stem changed so that a smaller
image reaches the same grids, for shapes and receptive fields."""

from __future__ import annotations

from torch import nn

from ..model import InceptionV2
from .shapes import weightless_copy


def low_resolution_variant(model: nn.Module, first_stride: int = 1, keep_pool: bool = True) -> nn.Module:
    """A copy of an ``InceptionV2``'s trunk with the stem changed as in Section 9 of the paper:
    the first convolution with ``first_stride`` (1 instead of 2) and, unless ``keep_pool``, the
    stem's max pool removed. Its weights live on the ``meta`` device: shapes and counts only."""
    if not isinstance(model, InceptionV2):
        raise ValueError(f"expected an InceptionV2, got {type(model).__name__}")
    trunk = weightless_copy(model.features)
    trunk.stem[0].conv.stride = (first_stride, first_stride)
    if not keep_pool:
        trunk.stem[3] = nn.Identity()
    return trunk
