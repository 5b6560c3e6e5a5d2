"""Run a notebook far enough to render its explorers' kernel-free copies.

A stored notebook keeps one picture per explorer. The site needs every view of the explorer's grid
(``inception_lib.explorers.frames``), and those depend on what the notebook built before (its models,
its feature maps), so this runs a copy of the notebook with nbclient, in the notebooks folder as
JupyterLab would, up to its last explorer cell, after one extra first cell that makes IPython show
every ``Explorer`` through ``Explorer.static_bundle``. The stored notebook is not changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from inception_lib.explorers.base import DESCRIPTION_PREFIX
from inception_lib.explorers.frames import FRAMES_MIME

SHOW_FRAMES = """\
from inception_lib.explorers.base import Explorer as _Explorer

get_ipython().display_formatter.mimebundle_formatter.for_type(_Explorer, _Explorer.static_bundle)"""
TIMEOUT_S = 300


def is_explorer_output(output: dict[str, Any]) -> bool:
    """Whether a stored output is an explorer's (its text is ``Explorer: title (controls)``)."""
    return str(output.get("data", {}).get("text/plain", "")).startswith(DESCRIPTION_PREFIX)


def explorer_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of the cells whose stored outputs include an explorer."""
    return [
        index
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and any(is_explorer_output(o) for o in cell.get("outputs", []))
    ]


def kernel_free_frames(path: Path, timeout_s: int = TIMEOUT_S) -> dict[int, list[dict[str, Any]]]:
    """``{cell index: [frames of each explorer the cell shows, in order]}`` for the notebook at ``path``.

    Raises nbclient's ``CellExecutionError`` (with the cell and its traceback) when a cell fails,
    for instance an explorer whose grid has too many points.
    """
    nb = nbformat.read(path, as_version=4)
    cells = explorer_cells(nb)
    if not cells:
        return {}
    # The notebook was read for this run alone: it runs in place, with the frames printer first.
    nb.cells = [nbformat.v4.new_code_cell(SHOW_FRAMES), *nb.cells[: cells[-1] + 1]]
    client = NotebookClient(
        nb,
        timeout=timeout_s,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    client.execute()
    frames = {}
    for index in cells:
        outputs = nb.cells[index + 1].outputs
        frames[index] = [o["data"][FRAMES_MIME] for o in outputs if FRAMES_MIME in o.get("data", {})]
    return frames
