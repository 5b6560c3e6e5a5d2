"""The Explorer wiring: a control change re-renders, output kinds, stable text for stored notebooks."""

from __future__ import annotations

import base64
import time

import ipywidgets as widgets
from matplotlib.figure import Figure

from inception_lib.explorers.base import EXPLORER_CLASS, OUTPUT_CLASS, Explorer


def _line(k: int) -> Figure:
    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot(range(k))
    return fig


def test_control_change_rerenders_the_image():
    explorer = Explorer("lines", _line, {"k": widgets.IntSlider(value=2, min=2, max=9, continuous_update=False)})
    first = bytes(explorer.image.value)
    assert first.startswith(b"\x89PNG")
    explorer.controls["k"].value = 7  # what a user's drag does
    assert bytes(explorer.image.value) != first


def test_last_seconds_is_the_duration_of_the_latest_render():
    def slow(k: int) -> str:
        time.sleep(0.05 * k)
        return str(k)

    explorer = Explorer("slow", slow, {"k": widgets.IntText(value=0)})
    explorer.set(k=2)
    assert explorer.last_seconds >= 0.1  # a lower bound: sleeping can only take longer


def test_html_render_and_set():
    explorer = Explorer("text", lambda n: f"<p>{n * 2}</p>", {"n": widgets.IntText(value=1)})
    assert explorer.html.value == "<p>2</p>"
    assert explorer.set(n=21) == "<p>42</p>"
    assert explorer.controls["n"].value == 21 and explorer.html.value == "<p>42</p>"


def test_mimebundle_has_stable_text_and_static_figure():
    explorer = Explorer("lines", _line, {"k": widgets.IntSlider(value=3)})
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == "Explorer: lines (k)"
    stored = base64.b64decode(bundle["image/png"])
    assert stored.startswith(b"\x89PNG") and len(stored) < len(bytes(explorer.image.value))  # compacted
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert EXPLORER_CLASS in explorer.widget._dom_classes
    assert OUTPUT_CLASS in explorer.output._dom_classes
