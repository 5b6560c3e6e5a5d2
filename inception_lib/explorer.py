"""The one pattern every interactive explorer follows: controls wired to a render function.

A render function takes the controls' values as keyword arguments and returns a matplotlib
``Figure`` (shown as a PNG) or a string of HTML. The library tests the render functions; an
``Explorer`` only wires them up. Stored notebooks show a stable one-line description as text and
the first render as a static image, so a reader on a code host sees the figure before running.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Mapping

import ipywidgets as widgets
from matplotlib.figure import Figure

Rendered = Figure | str

# CSS classes the browser tests look for.
EXPLORER_CLASS = "inception-explorer"
OUTPUT_CLASS = "inception-explorer-output"


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """PNG bytes of a figure (closed figures are fine: nothing here touches pyplot)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


class Explorer:
    """Controls on top, the rendered result below; re-rendered when a control's value changes.

    Give sliders ``continuous_update=False`` so a drag renders once, on release. ``last_seconds``
    holds the duration of the latest render, for latency measurements.
    """

    def __init__(self, title: str, render: Callable[..., Rendered], controls: Mapping[str, widgets.ValueWidget]):
        self.title = title
        self.render = render
        self.controls = dict(controls)
        self.image = widgets.Image(format="png")
        self.html = widgets.HTML()
        self.output = widgets.Box([self.image])
        self.output.add_class(OUTPUT_CLASS)
        self.widget = widgets.VBox(
            [widgets.HTML(f"<b>{title}</b>"), widgets.HBox(list(self.controls.values())), self.output]
        )
        self.widget.add_class(EXPLORER_CLASS)
        self.last_seconds = 0.0
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict[str, object]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Rendered:
        """Render with the controls' current values and show the result."""
        start = time.perf_counter()
        result = self.render(**self.values())
        if isinstance(result, Figure):
            self.image.value = figure_png(result)
            self.output.children = (self.image,)
        else:
            self.html.value = result
            self.output.children = (self.html,)
        self.last_seconds = time.perf_counter() - start
        return result

    def set(self, **values: object) -> Rendered:
        """Change controls programmatically (as a user would) and return what was rendered."""
        with self.widget.hold_trait_notifications():
            for name, value in values.items():
                self.controls[name].unobserve(self._on_change, names="value")
                self.controls[name].value = value
                self.controls[name].observe(self._on_change, names="value")
        return self.refresh()

    def _on_change(self, change: dict) -> None:
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = f"Explorer: {self.title} ({', '.join(self.controls)})"
        if self.output.children and self.output.children[0] is self.image:
            data["image/png"] = base64.b64encode(bytes(self.image.value)).decode("ascii")
        else:
            data["text/html"] = self.html.value
        return data
