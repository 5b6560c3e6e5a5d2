"""Explorer of the inference fast path: pick the switches, see the measured throughput."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets

from ..analysis.costs import inference_mult_adds
from ..draw.inference import METRICS, throughput_html
from ..inference.timing import FastPathTimings, measure_fast_path
from ..model import InceptionV2
from .base import Explorer


def _pack_needs_layout(controls: Mapping[str, widgets.ValueWidget], changed: widgets.ValueWidget) -> None:
    """oneDNN's fused kernel takes folded, channels_last convolutions: keep the three switches consistent."""
    if changed is controls["pack"] and changed.value:
        controls["fold_bn"].value = controls["channels_last"].value = True
    elif changed in (controls["fold_bn"], controls["channels_last"]) and not changed.value:
        controls["pack"].value = False


def throughput_explorer(timings: FastPathTimings | None = None) -> Explorer:
    """Table and bars of measured throughput per setting; the controls choose the highlighted one.

    Every setting is measured once, up front (``measure_fast_path`` on the design document's
    model when ``timings`` is None), so moving a control only redraws.
    """
    if timings is None:
        model = InceptionV2(num_classes=3, seed=0).eval()
        timings = measure_fast_path(model, mult_adds=inference_mult_adds(model))

    def render(fold_bn: bool, channels_last: bool, bf16: bool, pack: bool, metric: str):
        # What the link does to the checkboxes, for the site's frames too (they have no link):
        # packing implies folded, channels_last convolutions.
        fold_bn, channels_last = fold_bn or pack, channels_last or pack
        return throughput_html(
            timings, fold_bn=fold_bn, channels_last=channels_last, bf16=bf16, pack=pack, metric=metric
        )

    return Explorer(
        "Inference fast path: measured throughput",
        render,
        {
            "fold_bn": widgets.Checkbox(value=True, description="fold BatchNorm"),
            "channels_last": widgets.Checkbox(value=True, description="channels_last"),
            "bf16": widgets.Checkbox(value=False, description="bf16 weights"),
            "pack": widgets.Checkbox(value=False, description="packed oneDNN"),
            "metric": widgets.ToggleButtons(options=METRICS, value="× eager"),
        },
        link=_pack_needs_layout,
    )


EXPLORERS: dict[str, Callable[[], Explorer]] = {"throughput": throughput_explorer}
