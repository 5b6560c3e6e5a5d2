"""Receptive-field value types: a rectangle of input pixels and the field of one feature map,
per axis as (height, width) pairs."""

from __future__ import annotations

from dataclasses import dataclass, field

Pair = tuple[int, int]
Unit = tuple[int, int]


@dataclass(frozen=True)
class Box:
    """A rectangle of input pixels, inclusive on every side (rows ``top..bottom``, columns ``left..right``)."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    def clip(self, height: int, width: int) -> Box | None:
        """The part inside a ``height x width`` image (the rest of a field lies in zero padding);
        None when nothing is (a unit of a padding layer that sees only padding)."""
        box = Box(max(self.top, 0), max(self.left, 0), min(self.bottom, height - 1), min(self.right, width - 1))
        return box if box.height > 0 and box.width > 0 else None

    def contains(self, other: Box) -> bool:
        return (
            self.top <= other.top
            and self.left <= other.left
            and other.bottom <= self.bottom
            and other.right <= self.right
        )


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive field of one feature map, per axis as ``(height, width)`` pairs.

    ``size``: input pixels one unit depends on. ``jump``: input pixels between neighbouring units
    (the effective stride). ``start``: the input coordinate of the first pixel of unit (0, 0)'s
    field, negative when the field reaches into zero padding (``-start`` is Distill's effective
    padding). ``grid``: the feature map's height and width at the traced input size. ``aligned``:
    every path from the input to here agrees on jump and centre.

    ``live``: the first and the last unit (row, col) that read at least one image pixel (units
    outside see only zero padding); ``cover``: the input pixels the whole map depends on. Together
    they turn a unit's field (the hull, ``box``) into the pixels it really reads (``seen``).
    """

    size: Pair
    jump: Pair
    start: Pair
    grid: Pair
    aligned: bool = True
    live: tuple[Unit, Unit] | None = field(default=None, compare=False)
    cover: Box | None = field(default=None, compare=False)

    @property
    def padding(self) -> Pair:
        """Distill's effective padding P: how far unit (0, 0)'s field reaches before the image."""
        return (-self.start[0], -self.start[1])

    def center(self, row: int = 0, col: int = 0) -> tuple[float, float]:
        """Input coordinates (y, x) of the centre of unit ``(row, col)``'s field."""
        units = (row, col)
        return tuple(
            s + (r - 1) / 2 + i * j for s, r, i, j in zip(self.start, self.size, units, self.jump, strict=True)
        )  # type: ignore[return-value]

    def box(self, row: int, col: int) -> Box:
        """The field of unit ``(row, col)`` in input coordinates, padding included (see ``Box.clip``)."""
        for index, length, axis in ((row, self.grid[0], "row"), (col, self.grid[1], "col")):
            if not 0 <= index < length:
                raise ValueError(f"{axis} {index} is outside this {self.grid[0]}x{self.grid[1]} grid (0..{length - 1})")
        top, left = (s + i * j for s, i, j in zip(self.start, (row, col), self.jump, strict=True))
        return Box(top, left, top + self.size[0] - 1, left + self.size[1] - 1)

    def seen(self, row: int, col: int) -> Box | None:
        """The image pixels unit ``(row, col)`` depends on: its field without the zero padding, and
        without image pixels that no layer on the way reads (a strided layer can drop the last
        rows or columns); None for a unit that sees padding only. Exact for fields without holes;
        with dilation, or strides longer than kernels, it is the hull of the pixels read."""
        hull = self.box(row, col)
        if self.live is None or self.cover is None:
            return None
        (first_row, first_col), (last_row, last_col) = self.live
        if not (first_row <= row <= last_row and first_col <= col <= last_col):
            return None
        c = self.cover
        found = Box(max(hull.top, c.top), max(hull.left, c.left), min(hull.bottom, c.bottom), min(hull.right, c.right))
        return found if found.height > 0 and found.width > 0 else None


def unit_at(field: ReceptiveField, row: float, col: float) -> Unit:
    """The unit at fractional position (``row``, ``col``) in [0, 1] of the field's grid."""
    for value, axis in ((row, "row"), (col, "col")):
        if not 0 <= value <= 1:
            raise ValueError(f"{axis} is a fraction of the grid, from 0 to 1; got {value}")
    return round(row * (field.grid[0] - 1)), round(col * (field.grid[1] - 1))
