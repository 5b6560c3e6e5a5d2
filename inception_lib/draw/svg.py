"""Small charts drawn as SVG text: axes with ticks, lines, bars, a heat map, legends.

An explorer redraws on every click. Matplotlib lays out and rasterizes a whole figure each time
(200-900 ms here for a two-panel chart with legends); writing the same picture as SVG markup takes a
few milliseconds, and the browser draws it. The look follows matplotlib's defaults (its tab10
colours, DejaVu Sans, ticks outside, a light grid) so that charts drawn either way sit side by side.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from matplotlib import colormaps

FONT = "DejaVu Sans, Bitstream Vera Sans, Arial, sans-serif"
BLUE, RED, GREY, LIGHT_GREY = "#1f77b4", "#d62728", "#808080", "#d3d3d3"
DASHES = {"-": "", "--": "5.5,2.4", ":": "1.5,2.5"}


class SvgChart(str):
    """SVG markup that Jupyter shows as a picture (``_repr_svg_``) and an explorer embeds as HTML (a ``str``)."""

    def _repr_svg_(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"<SvgChart, {len(self):,} characters of SVG>"


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= raw * 0.999)
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def tick_label(value: float) -> str:
    text = f"{value:.3g}"
    return "0" if text in ("-0", "0.0") else text.replace("-", "−")


def _text(x: float, y: float, content: str, size: float = 10, anchor: str = "middle", **attributes: object) -> str:
    extra = "".join(f' {name.replace("_", "-")}="{value}"' for name, value in attributes.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}"{extra}>'
        f"{html.escape(content)}</text>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str = "black", extra: str = "") -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


@dataclass
class Panel:
    """One panel: a data box at (left, top) of size width × height, mapping ``xlim`` × ``ylim`` onto it."""

    left: float
    top: float
    width: float
    height: float
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    parts: list[str] = field(default_factory=list)
    legend_entries: list[str] = field(default_factory=list)
    legend_kinds: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, colour, dash)

    def x(self, value: float) -> float:
        low, high = self.xlim
        return self.left + (value - low) / (high - low) * self.width

    def y(self, value: float) -> float:
        low, high = self.ylim
        return self.top + self.height - (value - low) / (high - low) * self.height

    def _legend(self, label: str | None, kind: str, colour: str, dash: str = "") -> None:
        if label is not None:
            self.legend_entries.append(label)
            self.legend_kinds.append((kind, colour, dash))

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        colour: str = BLUE,
        style: str = "-",
        width: float = 1.5,
        marker: float = 0.0,
        label: str | None = None,
    ) -> None:
        """A polyline; ``marker`` > 0 adds a dot of that radius at each point."""
        points = " ".join(f"{self.x(a):.1f},{self.y(b):.1f}" for a, b in zip(xs, ys, strict=True))
        dash = DASHES[style]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="{width:g}"{dashes} '
            'stroke-linejoin="round"/>'
        )
        if marker:
            self.parts += [
                f'<circle cx="{self.x(a):.1f}" cy="{self.y(b):.1f}" r="{marker:g}" fill="{colour}"/>'
                for a, b in zip(xs, ys, strict=True)
            ]
        self._legend(label, "marker" if marker and len(xs) == 1 else "line", colour, dash)

    def point(self, x: float, y: float, colour: str, radius: float = 4, label: str | None = None) -> None:
        self.parts.append(f'<circle cx="{self.x(x):.1f}" cy="{self.y(y):.1f}" r="{radius:g}" fill="{colour}"/>')
        self._legend(label, "marker", colour)

    def hline(self, y: float, colour: str, style: str = "-", width: float = 1.0, label: str | None = None) -> None:
        self.line(self.xlim, (y, y), colour, style, width, label=label)

    def vline(self, x: float, colour: str, style: str = "-", width: float = 1.0) -> None:
        self.line((x, x), self.ylim, colour, style, width)

    def bars(self, xs: Sequence[float], heights: Sequence[float], width: float, colour: str, label: str | None) -> None:
        for x, height in zip(xs, heights, strict=True):
            top, bottom = self.y(max(height, 0.0)), self.y(0.0)
            left, right = self.x(x - width / 2), self.x(x + width / 2)
            self.parts.append(
                f'<rect x="{left:.1f}" y="{top:.1f}" width="{right - left:.1f}" height="{bottom - top:.1f}" '
                f'fill="{colour}"/>'
            )
        self._legend(label, "patch", colour)

    def grid(self, xticks: Sequence[float], yticks: Sequence[float]) -> None:
        lines = [(self.x(t), self.top, self.x(t), self.top + self.height) for t in xticks]
        lines += [(self.left, self.y(t), self.left + self.width, self.y(t)) for t in yticks]
        self.parts += [_line(*line, "#b0b0b0", ' stroke-opacity="0.3" stroke-width="0.8"') for line in lines]

    def frame(
        self,
        xticks: Sequence[float],
        yticks: Sequence[float],
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        xlabel: str = "",
        ylabel: str = "",
        title: str = "",
    ) -> None:
        """The box, outward ticks with labels, axis labels and a title (matplotlib's default look)."""
        bottom = self.top + self.height
        xlabels = xlabels if xlabels is not None else [tick_label(t) for t in xticks]
        ylabels = ylabels if ylabels is not None else [tick_label(t) for t in yticks]
        for tick, text in zip(xticks, xlabels, strict=True):
            x = self.x(tick)
            self.parts.append(_line(x, bottom, x, bottom + 3.5))
            self.parts.append(_text(x, bottom + 14, text))
        for tick, text in zip(yticks, ylabels, strict=True):
            y = self.y(tick)
            self.parts.append(_line(self.left - 3.5, y, self.left, y))
            self.parts.append(_text(self.left - 6, y + 3.5, text, anchor="end"))
        self.parts.append(
            f'<rect x="{self.left:.1f}" y="{self.top:.1f}" width="{self.width:.1f}" height="{self.height:.1f}" '
            'fill="none" stroke="black" stroke-width="0.8"/>'
        )
        if xlabel:
            self.parts.append(_text(self.left + self.width / 2, bottom + 30, xlabel))
        if ylabel:
            middle, offset = self.top + self.height / 2, 14 + 6 * max((len(t) for t in ylabels), default=0)
            turn = f"rotate(-90 {self.left - offset:.1f} {middle:.1f})"
            self.parts.append(_text(self.left - offset, middle, ylabel, transform=turn))
        if title:
            self.parts.append(_text(self.left + self.width / 2, self.top - 7, title, size=12))

    def legend(self, corner: str = "upper right") -> None:
        """A framed legend of the labelled artists, in ``corner`` ("upper right", "lower right", "center right")."""
        if not self.legend_entries:
            return
        row, size = 13.0, 8
        box_width = 28 + max(len(label) for label in self.legend_entries) * size * 0.56
        box_height = row * len(self.legend_entries) + 6
        x0 = self.left + self.width - box_width - 6
        y0 = {"upper right": self.top + 6, "lower right": self.top + self.height - box_height - 6}.get(
            corner, self.top + (self.height - box_height) / 2
        )
        self.parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{box_width:.1f}" height="{box_height:.1f}" rx="2" '
            'fill="white" fill-opacity="0.8" stroke="#cccccc"/>'
        )
        for i, (label, (kind, colour, dash)) in enumerate(zip(self.legend_entries, self.legend_kinds, strict=True)):
            y = y0 + 3 + row * i + row / 2
            if kind == "patch":
                self.parts.append(f'<rect x="{x0 + 5:.1f}" y="{y - 3.5:.1f}" width="16" height="7" fill="{colour}"/>')
            elif kind == "marker":
                self.parts.append(f'<circle cx="{x0 + 13:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>')
            else:
                dashes = f' stroke-dasharray="{dash}"' if dash else ""
                self.parts.append(
                    f'<line x1="{x0 + 5:.1f}" y1="{y:.1f}" x2="{x0 + 21:.1f}" y2="{y:.1f}" stroke="{colour}" '
                    f'stroke-width="1.5"{dashes}/>'
                )
            self.parts.append(_text(x0 + 25, y + 3, label, size=size, anchor="start"))

    def heat_map(self, values: Sequence[Sequence[float]], colour_map: str = "Blues") -> None:
        """One cell per value (row 0 at the top), coloured from 0 to the largest value, each labelled with
        its count in white on dark cells and black on light ones (``xlim``/``ylim`` are cell indices ± ½)."""
        cmap = colormaps[colour_map]
        peak = max((max(row) for row in values if len(row)), default=0) or 1
        for i, row in enumerate(values):
            for j, value in enumerate(row):
                r, g, b, _ = cmap(value / peak)
                x, y = self.x(j - 0.5), self.y(i - 0.5)
                width, height = self.x(j + 0.5) - x, self.y(i + 0.5) - y
                self.parts.append(
                    f'<rect x="{x:.1f}" y="{min(y, y + height):.1f}" width="{width:.1f}" height="{abs(height):.1f}" '
                    f'fill="rgb({round(r * 255)},{round(g * 255)},{round(b * 255)})"/>'
                )
                text = "white" if value > peak / 2 else "black"
                self.parts.append(_text(self.x(j), self.y(i) + 3.5, f"{value:g}", fill=text))


def svg_document(width: int, height: int, panels: Sequence[Panel]) -> SvgChart:
    """The panels as one SVG picture of ``width`` × ``height`` pixels on white."""
    body = "".join(part for panel in panels for part in panel.parts)
    return SvgChart(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="{FONT}"><rect width="{width}" height="{height}" fill="white"/>{body}</svg>'
    )
