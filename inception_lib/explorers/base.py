"""The one pattern every interactive explorer follows: controls wired to a render function.

A render function takes the controls' values as keyword arguments and returns a matplotlib
``Figure`` or a PIL image (shown as a PNG), or a string of HTML. The library tests the render functions; an
``Explorer`` only wires them up. Stored notebooks show a stable one-line description as text and
the first render as a static image, so a reader on a code host sees the figure before running.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import ipywidgets as widgets
from matplotlib.figure import Figure
from PIL import Image

from ..draw.encode import figure_png, image_png

Rendered = Figure | Image.Image | str
Link = Callable[[Mapping[str, widgets.ValueWidget], widgets.ValueWidget], None]

# CSS classes the browser tests look for.
EXPLORER_CLASS = "inception-explorer"
OUTPUT_CLASS = "inception-explorer-output"


class Explorer:
    """Controls on top, the rendered result below; re-rendered when a control's value changes.

    Give sliders ``continuous_update=False`` so a drag renders once, on release. ``last_seconds``
    holds the duration of the latest render, for latency measurements.

    Controls that depend on each other take a ``link(controls, changed)`` function: it runs after
    any control changes (or is ``set``) and may update other controls' options or ranges. The
    changes it causes do not render on their own, so each user action renders exactly once, with
    consistent values.
    """

    def __init__(
        self,
        title: str,
        render: Callable[..., Rendered],
        controls: Mapping[str, widgets.ValueWidget],
        link: Link | None = None,
    ):
        self.title = title
        self.render = render
        self.controls = dict(controls)
        self.link = link
        self.image = widgets.Image(format="png")
        self.html = widgets.HTML()
        self.output = widgets.Box([self.image])
        self.output.add_class(OUTPUT_CLASS)
        self.widget = widgets.VBox(
            [widgets.HTML(f"<b>{title}</b>"), widgets.HBox(list(self.controls.values())), self.output]
        )
        self.widget.add_class(EXPLORER_CLASS)
        self.last_seconds = 0.0
        self._quiet = False  # True while the explorer itself changes controls
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        self.refresh()

    def values(self) -> dict[str, object]:
        return {name: control.value for name, control in self.controls.items()}

    def refresh(self) -> Rendered:
        """Render with the controls' current values and show the result."""
        start = time.perf_counter()
        result = self.render(**self.values())
        if isinstance(result, str):
            self.html.value = result
            self.output.children = (self.html,)
        else:
            self.image.value = figure_png(result) if isinstance(result, Figure) else image_png(result)
            self.output.children = (self.image,)
        self.last_seconds = time.perf_counter() - start
        return result

    def set(self, **values: object) -> Rendered:
        """Change controls programmatically (as a user would) and return what was rendered."""
        for name, value in values.items():
            with self._quietly():
                self.controls[name].value = value
            self._follow(self.controls[name])
        return self.refresh()

    def _on_change(self, change: dict) -> None:
        if self._quiet:
            return
        self._follow(change["owner"])
        self.refresh()

    def _follow(self, changed: widgets.ValueWidget) -> None:
        if self.link is not None:
            with self._quietly():
                self.link(self.controls, changed)

    @contextmanager
    def _quietly(self) -> Iterator[None]:
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = f"Explorer: {self.title} ({', '.join(self.controls)})"
        if self.output.children and self.output.children[0] is self.image:
            data["image/png"] = base64.b64encode(bytes(self.image.value)).decode("ascii")
        else:
            data["text/html"] = self.html.value
        return data
