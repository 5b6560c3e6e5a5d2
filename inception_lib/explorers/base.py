"""The one pattern every interactive explorer follows: controls wired to a render function.

A render function takes the controls' values as keyword arguments and returns a matplotlib
``Figure`` or a PIL image (shown as a PNG), or a string of HTML. The library tests the render functions; an
``Explorer`` only wires them up. Stored notebooks show a stable one-line description as text and
the first render as a static image, so a reader on a code host sees the figure before running.
Where no kernel runs (the course site), ``frames`` gives the explorer's kernel-free copy: its view
rendered at every point of a small grid of the controls' values (``explorers.frames``).
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import ipywidgets as widgets
from matplotlib.figure import Figure
from PIL import Image

from ..draw.encode import picture_png
from .frames import FRAMES_MIME, static_frames

Rendered = Figure | Image.Image | str
Link = Callable[[Mapping[str, widgets.ValueWidget], widgets.ValueWidget], None]

STORED_COLOURS = 256  # the picture a stored notebook keeps is a palette PNG: a third of the size, alike to the eye

# CSS classes the browser tests look for.
EXPLORER_CLASS = "inception-explorer"
# How the stable text of a stored explorer output starts: the site builder and the browser tests find explorers by it.
DESCRIPTION_PREFIX = "Explorer: "
OUTPUT_CLASS = "inception-explorer-output"


class Explorer:
    """Controls on top, the rendered result below; re-rendered when a control's value changes.

    Give sliders ``continuous_update=False`` so a drag renders once, on release. ``last_seconds``
    holds the duration of the latest render, for latency measurements.

    Controls that depend on each other take a ``link(controls, changed)`` function: it runs after
    any control changes (or is ``set``) and may update other controls' options or ranges. The
    changes it causes do not render on their own, so each user action renders exactly once, with
    consistent values.

    ``grid`` chooses, per control, the values its kernel-free copy is rendered at (``frames``);
    a control it does not name gets the default of ``explorers.frames.control_choices``.
    """

    def __init__(
        self,
        title: str,
        render: Callable[..., Rendered],
        controls: Mapping[str, widgets.ValueWidget],
        link: Link | None = None,
        grid: Mapping[str, Sequence[object]] | None = None,
    ):
        self.title = title
        self.render = render
        self.controls = dict(controls)
        self.link = link
        self.grid = dict(grid or {})
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
            self.image.value = picture_png(result)
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

    def frames(self) -> dict:
        """The kernel-free copy: the view at every point of the controls' grid, as JSON (``FRAMES_MIME``)."""
        return static_frames(self.title, self.render, self.controls, self.grid)

    def static_bundle(self) -> dict:
        """A display bundle for pages without a kernel: the frames and the one-line description.
        The site builder shows explorers through it (an IPython mimebundle printer for ``Explorer``)."""
        return {FRAMES_MIME: self.frames(), "text/plain": self.description()}

    def description(self) -> str:
        """The stable one-line text a stored notebook keeps for this explorer."""
        return f"{DESCRIPTION_PREFIX}{self.title} ({', '.join(self.controls)})"

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
        data["text/plain"] = self.description()
        if self.output.children and self.output.children[0] is self.image:
            data["image/png"] = base64.b64encode(_stored_png(bytes(self.image.value))).decode("ascii")
        else:
            data["text/html"] = self.html.value
        return data


def _stored_png(png: bytes) -> bytes:
    """The explorer's picture as stored in a notebook: quantized to ``STORED_COLOURS`` and compressed
    hard (once per display; a live update keeps the fast encoding)."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(STORED_COLOURS)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return buffer.getvalue()
