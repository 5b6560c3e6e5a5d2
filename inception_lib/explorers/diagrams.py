"""Diagram explorers: any block of the network, and module F6 for any kernel length n."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
from matplotlib.figure import Figure

from ..diagrams import block_input_shapes, draw_module
from ..explorer import Explorer
from ..model import InceptionV2
from ..modules import InceptionModuleF6


def network_blocks() -> Explorer:
    """Pick any Inception block of the design document's network; its diagram at its real input shape."""
    model = InceptionV2(num_classes=3, seed=0)
    shapes = block_input_shapes(model)
    drawn: dict[str, Figure] = {}  # drawing takes ~0.5 s; each block is drawn once

    def render(block: str) -> Figure:
        if block not in drawn:
            drawn[block] = draw_module(model.get_submodule(block), shapes[block], title=block.removeprefix("features."))
        return drawn[block]

    options = [(name.removeprefix("features."), name) for name in shapes]
    return Explorer("Inception blocks", render, {"block": widgets.Dropdown(options=options, description="block")})


def f6_kernel(in_shape: tuple[int, int, int] = (768, 17, 17)) -> Explorer:
    """Module F6 (Figure 6) with n x n convolutions factorised into 1 x n and n x 1, for odd n."""
    drawn: dict[int, Figure] = {}

    def render(n: int) -> Figure:
        if n not in drawn:
            drawn[n] = draw_module(InceptionModuleF6(in_shape[0], n=n), in_shape, title=f"F6 with n = {n}")
        return drawn[n]

    slider = widgets.IntSlider(value=7, min=1, max=9, step=2, description="n", continuous_update=False)
    return Explorer("Module F6: kernel length n", render, {"n": slider})


EXPLORERS: dict[str, Callable[[], Explorer]] = {"network_blocks": network_blocks, "f6_kernel": f6_kernel}
