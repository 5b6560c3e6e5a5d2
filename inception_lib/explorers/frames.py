"""The kernel-free copy of an explorer: a few values of each control and the view rendered for each combination.

A static page (the course site, a notebook viewer) cannot call Python, so ``static_frames`` renders an
explorer ahead of time at every point of a small grid of its controls' values; the page switches
between the stored views as the reader moves a control. The grid is each selection control's options
(a dropdown, toggle buttons), ``False``/``True`` for a checkbox, and ``SLIDER_STOPS`` evenly spaced
values of a slider (every position of one with at most ``SLIDER_STOPS`` + 1; its current value
included); a factory narrows or widens any control with the explorer's ``grid`` argument. A control
with a single value in the grid is fixed on the static page.

The result is plain JSON (``FRAMES_MIME``): the controls with their value labels, the index of each
control's current value, and one frame per grid point, in row-major order (the last control varies
fastest). A frame is ``{"png": base64}`` for a figure or image and ``{"html": text}`` for HTML.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_selection import _Selection
from matplotlib.figure import Figure

from ..draw.encode import picture_png

FRAMES_MIME = "application/vnd.inception-lib.frames+json"
SLIDER_STOPS = 6
MAX_FRAMES = 240  # more is a grid too fine for a page: pass a coarser ``grid``

Choice = tuple[str, object]  # (label shown on the page, value passed to the render function)


def _label(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _slider_stops(control: widgets.IntSlider | widgets.FloatSlider) -> list[object]:
    low, high, step = control.min, control.max, control.step
    steps = round((high - low) / step)
    if steps <= SLIDER_STOPS:  # every position: evenly spaced stops of 7 positions would skip the middle one
        picked = set(range(steps + 1))
    else:
        picked = {round(i * steps / (SLIDER_STOPS - 1)) for i in range(SLIDER_STOPS)}
    values = {round(low + k * step, 10) for k in picked} | {control.value}
    return sorted(int(v) if isinstance(control, widgets.IntSlider) else float(v) for v in values)


def control_choices(control: widgets.ValueWidget, values: Sequence[object] | None = None) -> list[Choice]:
    """The (label, value) pairs of ``control`` on the static grid: ``values`` when given (each one
    of the control's options for a selection control), else every option, both states of a
    checkbox, or ``SLIDER_STOPS`` values of a slider."""
    if isinstance(control, _Selection):
        options = dict(zip(control._options_values, control._options_labels, strict=True))
        chosen = list(options) if values is None else list(values)
        unknown = [v for v in chosen if v not in options]
        if unknown:
            raise ValueError(f"{control.description or 'control'}: {unknown} not among its options {list(options)}")
        return [(options[v], v) for v in chosen]
    if values is not None:
        return [(_label(v), v) for v in values]
    if isinstance(control, widgets.Checkbox | widgets.ToggleButton):
        return [("off", False), ("on", True)]
    if isinstance(control, widgets.IntSlider | widgets.FloatSlider):
        return [(_label(v), v) for v in _slider_stops(control)]
    raise ValueError(
        f"control {control.description!r} ({type(control).__name__}) has no discrete values: "
        "give the explorer a grid for it"
    )


def _frame(result: Figure | Any) -> dict[str, str]:
    if isinstance(result, str):
        return {"html": result}
    data = picture_png(result)
    return {"png": base64.b64encode(data).decode("ascii")}


def static_frames(
    title: str,
    render: Callable[..., object],
    controls: Mapping[str, widgets.ValueWidget],
    grid: Mapping[str, Sequence[object]] | None = None,
) -> dict[str, Any]:
    """Render ``render`` at every point of the controls' grid (see the module docstring)."""
    grid = dict(grid or {})
    unknown = sorted(set(grid) - set(controls))
    if unknown:
        raise ValueError(f"grid names {unknown}, which are not controls of {title!r} ({list(controls)})")
    choices = {name: control_choices(control, grid.get(name)) for name, control in controls.items()}
    count = 1
    for options in choices.values():
        count *= len(options)
    if count > MAX_FRAMES:
        sizes = ", ".join(f"{name} {len(options)}" for name, options in choices.items())
        raise ValueError(f"{title!r}: {count} frames ({sizes}) is more than {MAX_FRAMES}: pass a coarser grid")
    values = [[value for _, value in options] for options in choices.values()]
    frames = [_frame(render(**dict(zip(choices, point, strict=True)))) for point in itertools.product(*values)]

    def start(name: str) -> int:
        current = controls[name].value
        return next((i for i, (_, value) in enumerate(choices[name]) if value == current), 0)

    return {
        "title": title,
        "controls": [
            {
                "name": name,
                "description": controls[name].description or name,
                "labels": [label for label, _ in options],
                "index": start(name),
                "kind": "slider" if isinstance(controls[name], widgets.IntSlider | widgets.FloatSlider) else "select",
            }
            for name, options in choices.items()
        ],
        "frames": frames,
    }
