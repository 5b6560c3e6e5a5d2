"""Feature-map explorers: a photo, a block, one of its branches and a channel, over cached activations.

``analysis.features.FeatureMaps`` computes and ``draw.features.FeatureMapView`` renders; this
module only wires controls. The
branch list depends on the block and the channel range on both, so the controls are linked: a
change first updates the dependent controls, then the figure renders once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
from torch import nn

from ..analysis.features import ALL_BRANCHES, FeatureMaps
from ..draw.features import FeatureMapView
from ..model import InceptionModuleF7, InceptionV2
from .base import Explorer

STATIC_CHANNELS = (0, 1, 2, 16)  # channels of the kernel-free copy: each block has at least 17


def feature_map_explorer(maps: FeatureMaps, block: str | None = None, title: str = "Feature maps") -> Explorer:
    """Photo, weights (when ``maps`` holds several models), block, branch and channel."""
    maps.precompute()  # one forward pass per model; every control change is then a cache hit
    view = FeatureMapView(maps)
    block = block or next(iter(maps.blocks))
    controls: dict[str, widgets.ValueWidget] = {
        "image": widgets.Dropdown(options=maps.image_names, description="photo"),
    }
    if len(maps.caches) > 1:
        controls["weights"] = widgets.ToggleButtons(options=list(maps.caches), description="weights")
    controls["block"] = widgets.Dropdown(options=maps.block_options(), value=block, description="module")
    controls["branch"] = widgets.Dropdown(options=maps.branch_options(block), value=ALL_BRANCHES, description="branch")
    controls["channel"] = widgets.IntSlider(
        value=0, min=0, max=_channels(maps, block, ALL_BRANCHES) - 1, description="channel", continuous_update=False
    )

    def link(controls: Mapping[str, widgets.ValueWidget], changed: widgets.ValueWidget) -> None:
        if changed is controls["block"]:
            controls["branch"].options = maps.branch_options(controls["block"].value)  # value resets to "all"
        if changed in (controls["block"], controls["branch"]):
            controls["channel"].max = _channels(maps, controls["block"].value, controls["branch"].value) - 1

    # Kernel-free copy: every block and every model on the first photo, the whole block, a few channels.
    grid = {"image": maps.image_names[:1], "branch": [ALL_BRANCHES], "channel": STATIC_CHANNELS}
    return Explorer(title, view.render, controls, link, grid=grid)


def _channels(maps: FeatureMaps, block: str, branch: str) -> int:
    return maps.activation(maps.image_names[0], block, branch).shape[0]


def feature_maps(maps: FeatureMaps | None = None) -> Explorer:
    """Every block on the bundled photos; by default the design document's network with random
    weights (seed 0). Notebook 08 passes maps of random and trained weights."""
    maps = maps or FeatureMaps({"random": InceptionV2(num_classes=3, seed=0)})
    return feature_map_explorer(maps, title="Feature maps of every module")


def f7_maps(model: nn.Module | None = None) -> FeatureMaps:
    """The two F7 modules of ``model`` (default: the design document's network, seed 0) on the photos."""
    return FeatureMaps({"random": model or InceptionV2(num_classes=3, seed=0)}, kinds=(InceptionModuleF7,))


def f7_branches(maps: FeatureMaps | None = None) -> Explorer:
    """The F7 modules (Figure 7) branch by branch; notebook 05 passes ``f7_maps(its model)``."""
    return feature_map_explorer(maps or f7_maps(), title="F7 branches on the 8×8 grid")


EXPLORERS: dict[str, Callable[[], Explorer]] = {"feature_maps": feature_maps, "f7_branches": f7_branches}
