"""Turning a drawing into bytes a page can show: PNG of a figure or image, a photo as a data URI,
and an HTML bar that renders in microseconds."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

# Light compression: a third faster to encode image-heavy views (feature maps), about 10 % larger.
PNG_COMPRESSION = 1
# Pixels per inch of the figures the library stores and shows: notebook outputs stay small.
STORED_DPI = 80


def figure_png(fig: Figure, dpi: int = STORED_DPI) -> bytes:
    """PNG bytes of a figure (closed figures are fine: nothing here touches pyplot)."""
    buffer = io.BytesIO()
    # A figure with a layout engine already fits its content; "tight" would draw it a second time.
    tight = "tight" if fig.get_layout_engine() is None else None
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches=tight, pil_kwargs={"compress_level": PNG_COMPRESSION})
    return buffer.getvalue()


def image_png(image: Image.Image) -> bytes:
    """PNG bytes of a PIL image."""
    buffer = io.BytesIO()
    image.save(buffer, format="png", compress_level=PNG_COMPRESSION)
    return buffer.getvalue()


def picture_png(picture: Figure | Image.Image) -> bytes:
    """PNG bytes of what an explorer's render returns when it is not HTML: a figure or a PIL image."""
    return figure_png(picture) if isinstance(picture, Figure) else image_png(picture)


def photo_data_uri(photo: np.ndarray) -> str:
    """A (H, W, 3) array in [0, 1] as a JPEG data URI, to embed in HTML (e.g. ``assets.images.to_display``'s output)."""
    buffer = io.BytesIO()
    Image.fromarray((np.clip(photo, 0, 1) * 255).round().astype(np.uint8)).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def html_bar(fraction: float, colour: str) -> str:
    """A horizontal bar filling ``fraction`` (0..1) of its table cell: a chart that renders in microseconds."""
    return f'<div style="background:{colour};height:0.8em;width:{100 * max(0.0, min(1.0, fraction)):.1f}%"></div>'
