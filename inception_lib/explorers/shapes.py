"""Shape explorers: input resolution -> the shape after every stem layer and every stage."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import ipywidgets as widgets

from ..draw.shapes import render_shape_flow
from ..model import InceptionV2
from .base import Explorer


def resolution(model: InceptionV2 | None = None) -> Explorer:
    """A slider over the input side (default: the design document's network); below the model's
    minimum the view names the step that would produce an empty grid."""
    model = model or InceptionV2(num_classes=3, seed=0)
    size = widgets.IntSlider(value=299, min=32, max=512, description="input side", continuous_update=False)
    # The kernel-free copy: either side of the network's minimum and of the auxiliary head's 299.
    edges = [model.min_input_size, model.min_input_size_aux or model.min_input_size]
    sides = sorted({size.min, 150, 224, size.max, *edges, *(edge - 1 for edge in edges)})
    return Explorer(
        "Input resolution → shape after each layer",
        partial(render_shape_flow, model),
        {"size": size},
        grid={"size": [s for s in sides if size.min <= s <= size.max]},
    )


EXPLORERS: dict[str, Callable[[], Explorer]] = {"resolution": resolution}
