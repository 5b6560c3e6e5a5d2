"""Shape traces drawn: the trace and the layer table as HTML, the shape flow as a figure, and the
input-resolution explorer's view."""

from __future__ import annotations

import html
from collections.abc import Sequence

from matplotlib.figure import Figure

from ..analysis.shapes import FlowStep, LayerRow, Shape, TableRow, shape_flow, size_verdict
from ..model import InceptionV2
from .encode import html_bar


def _shape_text(shape: Shape) -> str:
    return "×".join(map(str, shape))


def rows_html(rows: Sequence[LayerRow], max_depth: int | None = None) -> str:
    """An HTML table of ``rows`` (name indented by depth), optionally down to ``max_depth`` only."""
    head = "".join(f"<th>{h}</th>" for h in ("module", "type", "input", "output", "params", "mult-adds"))
    body = []
    for r in rows:
        if max_depth is not None and r.depth > max_depth:
            continue
        indent = f"text-align:left;padding-left:{0.3 + 1.2 * r.depth:.1f}em"
        cells = [
            f'<td style="{indent}">{html.escape(r.name or "(all)")}</td>',
            f'<td style="text-align:left">{html.escape(r.type)}</td>',
            f"<td>{_shape_text(r.input_shape)}</td>",
            f"<td>{_shape_text(r.output_shape)}</td>",
            f"<td>{r.params:,}</td>",
            f"<td>{r.mult_adds:,}</td>",
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def table_html(table: Sequence[TableRow]) -> str:
    """The layer table as HTML, with the document's three columns."""
    head = "<tr><th>type</th><th>kernel size/stride or remark</th><th>input size</th></tr>"
    body = "".join(f"<tr><td>{r.type}</td><td>{r.kernel}</td><td>{r.input_size}</td></tr>" for r in table)
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def flow_figure(steps: Sequence[FlowStep], title: str = "") -> Figure:
    """The network read top to bottom: grid side (left bars) and channels (right bars) after each step."""
    fig = Figure(figsize=(9, 0.32 * len(steps) + 1.2))
    grid_ax, channel_ax = fig.subplots(1, 2, sharey=True)
    ys = list(range(len(steps)))
    grid_ax.barh(ys, [s.shape[1] for s in steps], color="#d2f3f7", edgecolor="#1f9aaa")
    grid_ax.invert_xaxis()  # the two panels grow outwards from the step names in the middle
    grid_ax.set_xlabel("grid height")
    channel_ax.barh(ys, [s.shape[0] for s in steps], color="#fff4b8", edgecolor="#b89500")
    channel_ax.set_xlabel("channels")
    channel_ax.set_xlim(0, max(s.shape[0] for s in steps) * 1.45)
    for y, s in zip(ys, steps, strict=True):
        channel_ax.annotate(
            _shape_text(s.shape), (s.shape[0], y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7
        )
    grid_ax.set_yticks(ys, [f"{s.name.removeprefix('features.')}  ({s.label})" for s in steps], fontsize=7)
    grid_ax.invert_yaxis()  # input at the top
    fig.suptitle(title or f"Shapes through the trunk for a {_shape_text(steps[0].shape)} input", fontsize=10)
    fig.tight_layout()
    return fig


def render_shape_flow(model: InceptionV2, size: int) -> str:
    """HTML for the input-resolution explorer: the verdict, then each step's shape with a bar for its grid."""
    steps = shape_flow(model, size)
    widest = max(s.shape[1] for s in steps)
    ok = size >= model.min_input_size
    colour = "#1a7f37" if ok else "#b42318"
    rows = []
    for s in steps:
        bar = html_bar(s.shape[1] / widest, "#1f9aaa")
        empty = 0 in s.shape[1:]
        style = ' style="color:#b42318"' if empty else ""
        rows.append(
            f"<tr{style}><td style='text-align:left'>{s.name}</td><td style='text-align:left'>{s.label}</td>"
            f"<td>{_shape_text(s.shape)}{' (empty)' if empty else ''}</td><td style='width:12em'>{bar}</td></tr>"
        )
    head = "<tr><th>step</th><th>layer</th><th>output shape</th><th>grid</th></tr>"
    verdict = html.escape(size_verdict(model, size))
    return (
        f'<p style="color:{colour}"><b>{verdict}</b></p>'
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"
    )
