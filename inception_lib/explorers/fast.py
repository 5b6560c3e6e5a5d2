"""Explorer of the inference fast path: pick the switches, see the measured throughput."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ..analysis.costs import inference_mult_adds
from ..draw.inference import METRICS, throughput_html
from ..inference.timing import FastPathTimings, measure_fast_path
from ..model import InceptionV2
from .base import Explorer


def throughput_explorer(timings: FastPathTimings | None = None) -> Explorer:
    """Table and bars of measured throughput per setting; the controls choose the highlighted one.

    Every setting is measured once, up front (``measure_fast_path`` on the design document's
    model when ``timings`` is None), so moving a control only redraws.
    """
    if timings is None:
        model = InceptionV2(num_classes=3, seed=0).eval()
        timings = measure_fast_path(model, mult_adds=inference_mult_adds(model))

    def render(fold_bn: bool, channels_last: bool, bf16: bool, metric: str):
        return throughput_html(timings, fold_bn=fold_bn, channels_last=channels_last, bf16=bf16, metric=metric)

    return Explorer(
        "Inference fast path: measured throughput",
        render,
        {
            "fold_bn": widgets.Checkbox(value=True, description="fold BatchNorm"),
            "channels_last": widgets.Checkbox(value=True, description="channels_last"),
            "bf16": widgets.Checkbox(value=False, description="bf16 autocast"),
            "metric": widgets.ToggleButtons(options=METRICS, value="× eager"),
        },
    )


EXPLORERS: dict[str, Callable[[], Explorer]] = {"throughput": throughput_explorer}
