"""The lineage tables as HTML: the paper's Table 3, this course's names beside torchvision's, and
the cost of each version (``analysis.lineage``)."""

from __future__ import annotations

import html
from collections.abc import Sequence

from ..analysis.lineage import CostFigure, NameRow, Table3Row

LEFT = "text-align:left"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (0,)) -> str:
    """An HTML table; the columns in ``left`` are left-aligned (numbers stay right-aligned)."""
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f'<td style="{LEFT if i in left else ""}">{cell}</td>' for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def table3_html(rows: Sequence[Table3Row]) -> str:
    """The paper's Table 3, one row per cumulative change; rows seen in one transcription only carry a †."""
    body = [
        [
            html.escape(r.network) + ("" if r.confirmed else " †"),
            html.escape(r.change),
            f"{r.top1:.1f}%",
            "–" if r.top5 is None else f"{r.top5:.1f}%",
            f"{r.cost_bn_ops:.1f}",
        ]
        for r in rows
    ]
    return _table(["network", "what the row adds", "top-1 error", "top-5 error", "cost (Bn ops)"], body, (0, 1))


def name_table_html(rows: Sequence[NameRow]) -> str:
    """This course's unit, torchvision's counterpart, both outputs and parameter counts, and the differences."""
    body = []
    for r in rows:
        here, there = r.course, r.torchvision
        body.append(
            [
                f"<code>{html.escape(here.label)}</code><br>{html.escape(here.kind)}",
                "×".join(map(str, here.shape)),
                f"{here.params:,}",
                f"<code>{html.escape(there.label)}</code><br>{html.escape(there.kind)}",
                "×".join(map(str, there.shape)),
                f"{there.params:,}",
                "<br>".join(html.escape(d) for d in r.differences()) or "same layers",
            ]
        )
    head = ["this course", "output", "params", "torchvision", "output", "params", "differences"]
    return _table(head, body, (0, 3, 6))


def _amount(value: float | None, unit: float, computed: bool, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value / unit:,.{digits}f}" if computed else f"{value / unit:.4g}"  # published: as the source rounds


def cost_table_html(figures: Sequence[CostFigure]) -> str:
    """Parameters (millions) and multiply-adds (billions) per network, computed or as published, with the source."""
    body = [
        [
            html.escape(f.network),
            f"{html.escape(f.params_bound)}{_amount(f.params, 1e6, f.computed, 2)}",
            _amount(f.mult_adds, 1e9, f.computed, 3),
            f"{'computed' if f.computed else 'published'}: {html.escape(f.source)}",
        ]
        for f in figures
    ]
    return _table(["network", "params (M)", "mult-adds (G)", "source"], body, (0, 3))
