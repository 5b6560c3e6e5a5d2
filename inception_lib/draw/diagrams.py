"""Branch diagrams of Inception modules (``analysis.branches.module_graph``) drawn with matplotlib,
in the spirit of the design document's mermaid diagrams.

>>> draw_module(InceptionModuleF7(), (1280, 8, 8))   # a matplotlib Figure
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from ..analysis.branches import module_graph
from ..model import InceptionBlock

# Fill and edge colours per box kind; conv yellow and pool cyan as in the design document.
STYLE = {
    "conv": ("#fff4b8", "#b89500"),
    "pool": ("#d2f3f7", "#1f9aaa"),
    "other": ("#eadcf5", "#7a4f9a"),
    "io": ("#eeeeee", "#666666"),
}
BOX_WIDTH, BOX_HEIGHT = 0.88, 0.64  # in column / row units


def draw_module(module: InceptionBlock, input_shape: Sequence[int], title: str | None = None) -> Figure:
    """The branch diagram of ``module`` for an input of ``input_shape`` ((C, H, W) or (1, C, H, W)).

    Each box shows a layer's kernel (e.g. "1×7 conv"), its stride and padding where they are not
    1 and 0, and its output shape; the title gives the module's parameter count.
    """
    graph = module_graph(module, input_shape)
    fig = Figure(figsize=(1.75 * graph.width + 0.3, 0.95 * graph.rows + 0.7))
    ax = fig.add_axes((0, 0, 1, 0.93 if title is None else 0.9))
    ax.set_xlim(-0.55, graph.width - 0.45)
    ax.set_ylim(-graph.rows + 0.5, 0.75)
    ax.axis("off")
    for parent, child in graph.edges:
        a, b = graph.boxes[parent], graph.boxes[child]
        # Input and concat are bars spanning every column: edges to and from them run straight down.
        x_from, x_to = (b.x, b.x) if a.kind == "io" else (a.x, a.x) if b.kind == "io" else (a.x, b.x)
        ax.annotate(
            "",
            xy=(x_to, -b.row + BOX_HEIGHT / 2),
            xytext=(x_from, -a.row - BOX_HEIGHT / 2),
            arrowprops={"arrowstyle": "-|>", "color": "#555555", "lw": 0.9, "shrinkA": 0, "shrinkB": 0},
        )
    for box in graph.boxes:
        fill, edge = STYLE[box.kind]
        width = graph.width - 1 + BOX_WIDTH if box.kind == "io" else BOX_WIDTH
        ax.add_patch(
            FancyBboxPatch(
                (box.x - width / 2, -box.row - BOX_HEIGHT / 2),
                width,
                BOX_HEIGHT,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor=fill,
                edgecolor=edge,
                lw=1.2,
            )
        )
        ax.text(box.x, -box.row, box.label, ha="center", va="center", fontsize=8, gid=box.name or box.title)
    for name, centre in graph.branches:
        ax.text(
            centre,
            -0.5,
            name,
            ha="center",
            va="center",
            fontsize=7,
            color="#555555",
            style="italic",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
        )
    params = sum(p.numel() for p in module.parameters())
    heading = f"{type(module).__name__}: {module.in_channels} → {module.out_channels} channels, {params:,} parameters"
    fig.suptitle(heading if title is None else f"{title}\n{heading}", fontsize=10)
    return fig
