"""Receptive-field explorer (notebook 07): a unit's field over a real photo, for any layer."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from ..analysis.rf import analytic_receptive_fields
from ..assets.images import list_images, load_image, preprocess, to_display
from ..draw.encode import photo_data_uri
from ..draw.rf import render_field_on_photo
from ..model import InceptionV2
from .base import Explorer

IMAGE_SIZE = 299


def field_on_photo(model: InceptionV2 | None = None) -> Explorer:
    """Pick a photo, a layer of the trunk and a unit (as a fraction of the layer's grid): the
    input pixels that unit sees. The fields are computed once; a change only redraws."""
    model = model or InceptionV2(num_classes=3, seed=0)
    fields = analytic_receptive_fields(model, IMAGE_SIZE)
    photos = {name: photo_data_uri(to_display(preprocess(load_image(name), IMAGE_SIZE))) for name in list_images()}

    def render(image: str, layer: str, row: float, col: float) -> str:
        return render_field_on_photo(photos[image], fields, layer, row, col)

    def fraction(description: str) -> widgets.FloatSlider:
        return widgets.FloatSlider(value=0.5, min=0, max=1, step=0.05, description=description, continuous_update=False)

    layers = fields.trunk()
    controls = {
        "image": widgets.Dropdown(options=list(photos), description="photo"),
        "layer": widgets.Dropdown(options=layers, value="features.mixed_5.0", description="layer"),
        "row": fraction("row"),
        "col": fraction("column"),
    }
    # Kernel-free copy: every layer, the corner, edge and centre units, on the first photo.
    grid = {"image": list(photos)[:1], "layer": layers, "row": (0.0, 0.5, 1.0), "col": (0.0, 0.5, 1.0)}
    return Explorer("Receptive field of one unit, over a photo", render, controls, grid=grid)


EXPLORERS: dict[str, Callable[[], Explorer]] = {"field_on_photo": field_on_photo}
