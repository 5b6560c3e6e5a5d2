"""Kernel-free copies of explorers: the grid of control values, the order of the views, clear errors."""

from __future__ import annotations

import base64
import io

import ipywidgets as widgets
import pytest
from PIL import Image

from inception_lib.explorers.base import Explorer
from inception_lib.explorers.frames import FRAMES_MIME, MAX_FRAMES, SLIDER_STOPS, control_choices


def _explorer(**grid) -> Explorer:
    controls = {
        "a": widgets.Dropdown(options=[("one", 1), ("two", 2)], value=2, description="A"),
        "b": widgets.IntSlider(value=3, min=0, max=10, description="B"),
    }
    return Explorer("sum", lambda a, b: f"<p>{a}+{b}</p>", controls, grid=grid or None)


def test_views_are_in_row_major_order_of_the_grid():
    frames = _explorer(b=[0, 5]).frames()
    assert [f["html"] for f in frames["frames"]] == ["<p>1+0</p>", "<p>1+5</p>", "<p>2+0</p>", "<p>2+5</p>"]
    a, b = frames["controls"]
    assert (a["labels"], a["index"], a["kind"]) == (["one", "two"], 1, "select")  # starts at the current value
    assert (b["labels"], b["kind"], b["description"]) == (["0", "5"], "slider", "B")


def test_a_slider_gets_evenly_spaced_stops_and_its_current_value():
    slider = widgets.FloatSlider(value=0.13, min=0.0, max=0.5, step=0.01)
    values = [v for _, v in control_choices(slider)]
    assert values[0] == 0.0 and values[-1] == 0.5 and 0.13 in values
    assert len(values) == SLIDER_STOPS + 1
    # A slider with at most SLIDER_STOPS + 1 positions keeps every one (Figure 6's odd n from 3 to 15).
    odd = widgets.IntSlider(value=7, min=3, max=15, step=2)
    assert [v for _, v in control_choices(odd)] == list(range(3, 16, 2))
    assert control_choices(widgets.Checkbox(value=True)) == [("off", False), ("on", True)]


def test_images_become_png_frames():
    explorer = Explorer("red", lambda k: Image.new("RGB", (k, k), "red"), {"k": widgets.Dropdown(options=[2, 3])})
    frames = explorer.static_bundle()[FRAMES_MIME]["frames"]
    assert [Image.open(io.BytesIO(base64.b64decode(f["png"]))).size for f in frames] == [(2, 2), (3, 3)]


def test_bad_grids_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"grid names \['c'\]"):
        _explorer(c=[1]).frames()
    with pytest.raises(ValueError, match="not among its options"):
        _explorer(a=[3]).frames()
    with pytest.raises(ValueError, match=f"more than {MAX_FRAMES}"):
        _explorer(b=range(MAX_FRAMES)).frames()
    with pytest.raises(ValueError, match="no discrete values"):
        Explorer("t", lambda t: t, {"t": widgets.Text()}).frames()


def test_static_bundle_keeps_the_stored_description():
    explorer = _explorer(b=[1])
    stored = explorer._repr_mimebundle_()["text/plain"]
    assert explorer.static_bundle()["text/plain"] == stored == "Explorer: sum (a, b)"
