"""Feature maps drawn: channel grids, the explorer's view (photo, a page of channels, one channel
enlarged) and block statistics, over ``analysis.features.FeatureMaps``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ..analysis.features import ALL_BRANCHES, FeatureMaps
from ..assets.images import image_batch, to_display

GRID_COLUMNS = 8
PAGE = 16  # channels per page in the explorer view
CMAP = "magma"
# Pixel sizes of the drawn views: small enough that drawing and PNG-encoding one stays quick.
PANEL = 224  # the photo and the enlarged channel
TILE = 56  # a tile of a channel grid is enlarged towards this
TITLE_SPACE = 34  # above the panels, for their titles


class FeatureMapView:
    """The render function behind the feature-map explorers: ``FeatureMaps`` plus the photos at
    panel size (the same centre crop, so the view shows each photo without resampling it)."""

    def __init__(self, maps: FeatureMaps) -> None:
        self.maps = maps
        self.photos = {name: to_display(image_batch([name], PANEL)[0]) for name in maps.image_names}

    def render(
        self, image: str, block: str, branch: str = ALL_BRANCHES, channel: int = 0, weights: str | None = None
    ) -> Image.Image:
        """``feature_image`` for the chosen photo, block, branch, channel and model."""
        act = self.maps.activation(image, block, branch, weights)
        label = block.removeprefix("features.") + ("" if branch == ALL_BRANCHES else f" / {branch}")
        if len(self.maps.caches) > 1:
            label += f" ({self.maps.weights_label(weights)} weights)"
        return feature_image(self.photos[image], act, channel, label)


def statistics_figure(maps: FeatureMaps) -> Figure:
    """Mean activation (log scale) and share of zeros per block, one line per model of ``maps``."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    mean_ax, zero_ax = fig.subplots(1, 2)
    for i, label in enumerate(maps.caches):
        stats = maps.statistics(label)
        x, color = range(len(stats)), f"C{i}"
        mean_ax.plot(x, [s.mean for s in stats], marker="o", color=color, label=label)
        zero_ax.plot(x, [s.zero_fraction for s in stats], marker="o", color=color, label=f"{label}: outputs")
        zero_ax.plot(
            x, [s.dead_channels for s in stats], marker="x", ls=":", color=color, label=f"{label}: dead channels"
        )
    names = [s.block for s in maps.statistics()]
    for ax, title in ((mean_ax, "mean activation"), (zero_ax, "share of zeros")):
        ax.set_xticks(range(len(names)), names, rotation=60, fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    mean_ax.set_yscale("log")
    zero_ax.set_ylim(0, 1)
    return fig


def channel_mosaic(
    activation: Tensor, channels: Sequence[int], columns: int = GRID_COLUMNS
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Tile the given channels of a (C, H, W) activation into one 2-D array, each tile scaled to
    [0, 1] on its own (a constant channel is 0) and separated by NaN gaps; also each tile's
    (top, left) corner."""
    if activation.dim() != 3:
        raise ValueError(f"expected one image's activation (C, H, W), got shape {tuple(activation.shape)}")
    count = activation.shape[0]
    bad = [c for c in channels if not 0 <= c < count]
    if bad or not channels:
        raise ValueError(f"channels must be a non-empty list within 0..{count - 1}, got {list(channels)}")
    maps = activation[list(channels)].float()
    low = maps.amin(dim=(1, 2), keepdim=True)
    span = maps.amax(dim=(1, 2), keepdim=True) - low
    maps = ((maps - low) / span.clamp_min(1e-12)).numpy()
    rows = -(-len(channels) // columns)
    height, width = maps.shape[1:]
    gap = max(1, height // 16)
    mosaic = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan, dtype=np.float32)
    corners = [((i // columns) * (height + gap), (i % columns) * (width + gap)) for i in range(len(maps))]
    for (top, left), tile in zip(corners, maps, strict=True):
        mosaic[top : top + height, left : left + width] = tile
    return mosaic, corners


def channel_grid(
    activation: Tensor,
    channels: Sequence[int] | None = None,
    columns: int = GRID_COLUMNS,
    title: str = "",
) -> Image.Image:
    """A grid of feature maps of one image's (C, H, W) activation, each numbered; the first 32
    channels by default."""
    channels = list(range(min(activation.shape[0], 32)) if channels is None else channels)
    panel, labels, _ = _mosaic_panel(activation, channels, min(columns, len(channels)))
    image, lefts, top = _canvas_image([(panel, "")], title)
    _number_tiles(ImageDraw.Draw(image), labels, lefts[0], top)
    return image


def feature_image(photo: np.ndarray, activation: Tensor, channel: int, title: str, per_page: int = PAGE) -> Image.Image:
    """The explorer view: the photo, the page of ``per_page`` channels holding ``channel`` (outlined),
    and ``channel`` enlarged with its range. ``activation`` is one image's (C, H, W) output."""
    count = activation.shape[0]
    if not 0 <= channel < count:
        raise ValueError(f"channel {channel} is out of range: this output has channels 0..{count - 1}")
    first = channel - channel % per_page
    page = list(range(first, min(first + per_page, count)))
    grid, labels, tile = _mosaic_panel(activation, page, columns=4)
    values = activation[channel].float()
    one, _ = channel_mosaic(activation, [channel], columns=1)
    image, lefts, top = _canvas_image(
        [
            (photo, "input"),
            (grid, f"channels {page[0]}–{page[-1]} of {count}"),
            (
                _colorize(_enlarge(one, PANEL // one.shape[0])),
                f"channel {channel}: {values.min():.2f} … {values.max():.2f}",
            ),
        ],
        f"{title} — {tuple(activation.shape)} per image",
    )
    draw = ImageDraw.Draw(image)
    _number_tiles(draw, labels, lefts[1], top)
    y, x = next((y, x) for c, y, x in labels if c == channel)
    box = (lefts[1] + x - 2, top + y - 2, lefts[1] + x + tile + 1, top + y + tile + 1)
    draw.rectangle(box, outline="#00d0ff", width=2)
    return image


# --- drawing: every view is one RGB canvas drawn with PIL alone, because matplotlib's text layout
# alone takes longer than the 100 ms a click may take.


def _colorize(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] to RGB through the colormap; NaN (the gaps between tiles) to white."""
    cmap = colormaps[CMAP].with_extremes(bad="white")
    return cmap(np.ma.masked_invalid(values))[..., :3]


def _enlarge(values: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upsampling by an integer factor: each activation stays a crisp square."""
    factor = max(1, factor)
    return values.repeat(factor, axis=0).repeat(factor, axis=1)


def _mosaic_panel(
    activation: Tensor, channels: list[int], columns: int
) -> tuple[np.ndarray, list[tuple[int, int, int]], int]:
    """RGB mosaic of ``channels``, each tile's ``(channel, top, left)`` in pixels, and the tile size."""
    mosaic, corners = channel_mosaic(activation, channels, columns)
    factor = max(1, round(TILE / activation.shape[1]))
    labels = [(c, top * factor, left * factor) for c, (top, left) in zip(channels, corners, strict=True)]
    return _colorize(_enlarge(mosaic, factor)), labels, activation.shape[1] * factor


def _lay_out(panels: list[tuple[np.ndarray, str]], gap: int = 12) -> tuple[np.ndarray, list[int]]:
    """RGB panels side by side on one white canvas, aligned at the top; also each panel's left edge."""
    height = max(panel.shape[0] for panel, _ in panels)
    lefts = [int(x) for x in np.cumsum([0] + [panel.shape[1] + gap for panel, _ in panels[:-1]])]
    canvas = np.ones((height, lefts[-1] + panels[-1][0].shape[1], 3), dtype=np.float32)
    for (panel, _), left in zip(panels, lefts, strict=True):
        canvas[: panel.shape[0], left : left + panel.shape[1]] = panel[..., :3]
    return canvas, lefts


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Matplotlib's own DejaVu Sans, so PIL-drawn views need no system font."""
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), size)


def _canvas_image(panels: list[tuple[np.ndarray, str]], title: str) -> tuple[Image.Image, list[int], int]:
    """The panels as a PIL image, each titled; returns (image, lefts, top of the panels)."""
    canvas, lefts = _lay_out(panels)
    top = TITLE_SPACE if title else TITLE_SPACE // 2
    image = Image.new("RGB", (canvas.shape[1], canvas.shape[0] + top), "white")
    image.paste(Image.fromarray(np.round(canvas * 255).astype(np.uint8)), (0, top))
    draw = ImageDraw.Draw(image)
    for (panel, name), left in zip(panels, lefts, strict=True):
        draw.text((left + panel.shape[1] / 2, top - 3), name, fill="black", font=_font(11), anchor="md")
    if title:
        draw.text((image.width / 2, 3), title, fill="black", font=_font(12), anchor="ma")
    return image, lefts, top


def _number_tiles(draw: ImageDraw.ImageDraw, labels: list[tuple[int, int, int]], left: int, top: int) -> None:
    """Each tile's channel number in its top-left corner."""
    for channel, y, x in labels:
        draw.text((left + x + 2, top + y + 1), str(channel), fill="white", font=_font(9))
