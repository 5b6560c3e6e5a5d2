"""Feature-map explorers: a photo, a block, one of its branches and a channel, over cached activations.

The view (``inception_lib.features.FeatureMapView``) renders; this module only wires controls. The
branch list depends on the block and the channel range on both, so the controls are linked: a
change first updates the dependent controls, then the figure renders once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
from torch import nn

from ..explorer import Explorer
from ..features import ALL_BRANCHES, FeatureMapView
from ..model import InceptionV2
from ..modules import InceptionModuleF7


def feature_map_explorer(view: FeatureMapView, block: str | None = None, title: str = "Feature maps") -> Explorer:
    """Photo, weights (when the view holds several models), block, branch and channel."""
    view.precompute()  # one forward pass per model; every control change is then a cache hit
    block = block or next(iter(view.blocks))
    controls: dict[str, widgets.ValueWidget] = {
        "image": widgets.Dropdown(options=view.image_names, description="photo"),
    }
    if len(view.caches) > 1:
        controls["weights"] = widgets.ToggleButtons(options=list(view.caches), description="weights")
    controls["block"] = widgets.Dropdown(options=view.block_options(), value=block, description="module")
    controls["branch"] = widgets.Dropdown(options=view.branch_options(block), value=ALL_BRANCHES, description="branch")
    controls["channel"] = widgets.IntSlider(
        value=0, min=0, max=_channels(view, block, ALL_BRANCHES) - 1, description="channel", continuous_update=False
    )

    def link(controls: Mapping[str, widgets.ValueWidget], changed: widgets.ValueWidget) -> None:
        if changed is controls["block"]:
            controls["branch"].options = view.branch_options(controls["block"].value)  # value resets to "all"
        if changed in (controls["block"], controls["branch"]):
            controls["channel"].max = _channels(view, controls["block"].value, controls["branch"].value) - 1

    return Explorer(title, view.render, controls, link)


def _channels(view: FeatureMapView, block: str, branch: str) -> int:
    return view.activation(view.image_names[0], block, branch).shape[0]


def feature_maps(view: FeatureMapView | None = None) -> Explorer:
    """Every block on the bundled photos; by default the design document's network with random
    weights (seed 0). Notebook 08 passes a view holding random and trained weights."""
    view = view or FeatureMapView({"random": InceptionV2(num_classes=3, seed=0)})
    return feature_map_explorer(view, title="Feature maps of every module")


def f7_view(model: nn.Module | None = None) -> FeatureMapView:
    """The two F7 modules of ``model`` (default: the design document's network, seed 0) on the photos."""
    return FeatureMapView({"random": model or InceptionV2(num_classes=3, seed=0)}, kinds=(InceptionModuleF7,))


def f7_branches(view: FeatureMapView | None = None) -> Explorer:
    """The F7 modules (Figure 7) branch by branch; notebook 05 passes ``f7_view(its model)``."""
    return feature_map_explorer(view or f7_view(), title="F7 branches on the 8×8 grid")


EXPLORERS: dict[str, Callable[[], Explorer]] = {"feature_maps": feature_maps, "f7_branches": f7_branches}
