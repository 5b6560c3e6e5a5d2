"""torchinfo summaries in the design document's format."""

from __future__ import annotations

from collections.abc import Sequence

import torchinfo
from torch import nn

from ..model import InceptionV2
from ..model.runtime import evaluating

DESIGN_COLUMNS = ("kernel_size", "input_size", "output_size", "num_params")


def summarize(
    model: nn.Module,
    input_size: Sequence[int],
    depth: int = 3,
    columns: Sequence[str] = DESIGN_COLUMNS,
) -> torchinfo.ModelStatistics:
    """torchinfo summary of ``model`` with the design document's columns.

    The design document shows the auxiliary head executed. In training mode BatchNorm refuses a
    batch of one on the head's 1x1 map, so an ``InceptionV2`` is summarised in eval mode with
    ``forward(x, with_aux=True)``: every row is produced, and BatchNorm uses its running
    statistics. The model's own train/eval mode is restored afterwards.
    """
    kwargs = {"with_aux": True} if isinstance(model, InceptionV2) and model.features.aux is not None else {}
    with evaluating(model):
        return torchinfo.summary(
            model, input_size=tuple(input_size), col_names=tuple(columns), depth=depth, mode="eval", verbose=0, **kwargs
        )
