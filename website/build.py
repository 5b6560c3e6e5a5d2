"""Build the course's static site from the stored notebooks: ``make site`` (or ``python -m website.build``).

One page per notebook, with its stored outputs and figures (nbconvert's JupyterLab look), an index
with README's course table, navigation between pages, and Binder and Colab links on every page.
Nothing is fetched when a page is viewed: MathJax 3 (its SVG build, fonts inside the script) is
copied from the ``sphinx-mathjax-offline`` package, the page scripts are this folder's, and pictures
are inline or files beside the page, so a page renders even opened from disk.

Explorers move without Python where they can: ``website.frames`` runs each notebook that holds
explorers up to its last one to render every view of their grids, and ``website.explorer_html``
puts them on the page. A notebook in ``SKIP_EXECUTION`` keeps its stored pictures, with a note
that the explorer needs a kernel. ``site.json`` in the output lists pages, explorers and sizes.
"""

from __future__ import annotations

import argparse
import html
import importlib.metadata
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter

from inception_lib.explorers.base import DESCRIPTION_PREFIX

from . import links
from .explorer_html import FrameWriter, explorer_html
from .frames import is_explorer_output, kernel_free_frames
from .prepare_notebooks import drop_widget_state

ROOT = links.ROOT
NOTEBOOKS = ROOT / links.NOTEBOOKS_DIR
OUT = ROOT / "build" / "site"
HERE = Path(__file__).resolve().parent
STATIC = "_static"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
MATHJAX = "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js"  # in that distribution: every TeX extension
# Notebooks not run for the site: their explorers keep the stored picture (and a note).
SKIP_EXECUTION = {"09_training.ipynb": "its explorer follows cells that train networks for about 40 s"}
# Budget of one page: its HTML and the files beside it (explorer views). The shared _static folder
# (MathJax, 2.3 MB, and this site's script and style) is counted once, apart.
PAGE_BUDGET_BYTES = 4_000_000
TABLE_ROW = re.compile(r"^\|\s*\[([^\]]+)\]\(notebooks/([^)]+\.ipynb)\)\s*\|(.*)\|\s*$")


@dataclass
class ExplorerReport:
    title: str
    kernel_free: bool
    views: int = 0
    controls: list[str] = field(default_factory=list)


@dataclass
class PageReport:
    notebook: str
    page: str
    title: str
    bytes: int = 0
    seconds: float = 0.0
    explorers: list[ExplorerReport] = field(default_factory=list)


def course_table(readme: Path = ROOT / "README.md") -> dict[str, str]:
    """README's course table: ``{notebook file name: what you see and move (Markdown)}``."""
    rows = {}
    for line in readme.read_text(encoding="utf-8").splitlines():
        match = TABLE_ROW.match(line)
        if match:
            rows[match[2]] = match[3].strip()
    return rows


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first Markdown heading of the notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match[1].strip()
    return fallback


def page_name(notebook: str) -> str:
    return Path(notebook).stem + ".html"


def _needs_kernel(notebook: str) -> str:
    return (
        '<p class="needs-kernel">This explorer needs Python: '
        f'<a href="{links.binder_url(notebook)}">launch the notebook on Binder</a> or '
        f'<a href="{links.colab_url(notebook)}">open it in Colab</a> to move it.</p>'
    )


def prepare(
    nb: nbformat.NotebookNode, notebook: str, frames: dict[int, list[dict[str, Any]]], writer: FrameWriter
) -> list[ExplorerReport]:
    """Replace each stored explorer output by its kernel-free copy (or add a note that it needs a
    kernel) and drop widget views, whose state a static page does not have."""
    drop_widget_state(nb)
    reports = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        pending = list(frames.get(index, []))
        outputs = []
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_MIME, None)
            outputs.append(output)
            if not is_explorer_output(output):
                continue
            text = output["data"]["text/plain"]
            if pending:
                data = pending.pop(0)
                output["data"] = {"text/html": explorer_html(data, writer, len(reports)), "text/plain": text}
                controls = [c["name"] for c in data["controls"] if len(c["labels"]) > 1]
                reports.append(ExplorerReport(data["title"], True, len(data["frames"]), controls))
            else:
                if index in frames:
                    raise RuntimeError(f"{notebook}, cell {index}: more explorers stored than shown when run")
                outputs.append(nbformat.v4.new_output("display_data", {"text/html": _needs_kernel(notebook)}))
                reports.append(ExplorerReport(text.removeprefix(DESCRIPTION_PREFIX), False))
        if pending:
            raise RuntimeError(
                f"{notebook}, cell {index}: shows {len(pending)} explorer(s) more than its stored outputs: "
                "re-execute it (make notebooks NB=notebooks/...)"
            )
        cell.outputs = outputs
    return reports


def _exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="course",
        extra_template_basedirs=[str(HERE / "templates")],
        mathjax_url=f"{STATIC}/{Path(MATHJAX).name}",
    )


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _copy_static(out: Path) -> None:
    static = out / STATIC
    shutil.copytree(HERE / "static", static)
    shutil.copy(Path(importlib.metadata.distribution("sphinx-mathjax-offline").locate_file(MATHJAX)), static)


def _index_notebook(pages: list[PageReport], table: dict[str, str]) -> nbformat.NotebookNode:
    def moving(page: PageReport) -> str:
        return f"{sum(e.kernel_free for e in page.explorers)} of {len(page.explorers)}" if page.explorers else "—"

    rows = "\n".join(f"| [{page.title}]({page.page}) | {table[page.notebook]} | {moving(page)} |" for page in pages)
    text = (
        "# Inception V2, module by module\n\n"
        "A tested notebook course on Szegedy et al., *Rethinking the Inception Architecture for Computer "
        "Vision* (CVPR 2016). Each page is a notebook with its stored outputs; explorers marked below move "
        "here without Python (their views were computed when the site was built). To run a notebook, "
        "launch it on Binder or open it in Colab from its page.\n\n"
        "| notebook | what you see and move | explorers that move here |\n| --- | --- | --- |\n" + rows
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nb.metadata["title"] = "Inception V2, module by module"
    return nb


def build_site(out: Path = OUT, notebooks: Path = NOTEBOOKS, execute: bool = True) -> list[PageReport]:
    """Write the site into ``out`` (replacing it) and return one report per page.

    ``execute=False`` skips running notebooks: every explorer keeps its stored picture.
    """
    paths = sorted(notebooks.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks in {notebooks}")
    table = course_table()
    missing = [p.name for p in paths if p.name not in table]
    if missing:
        raise ValueError(f"{missing} have no row in README's course table (| [name](notebooks/name.ipynb) | … |)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    _copy_static(out)
    exporter = _exporter()
    stored = {p.name: nbformat.read(p, as_version=4) for p in paths}
    pages = [PageReport(name, page_name(name), notebook_title(nb, name)) for name, nb in stored.items()]
    for number, page in enumerate(pages):
        start = time.perf_counter()
        path = notebooks / page.notebook
        nb = stored[page.notebook]  # each page is prepared once: no copy needed
        frames = kernel_free_frames(path) if execute and page.notebook not in SKIP_EXECUTION else {}
        files = f"{Path(page.page).stem}_files"
        page.explorers = prepare(nb, page.notebook, frames, FrameWriter(out / files, files))
        neighbours = {
            key: {"href": pages[i].page, "title": html.escape(pages[i].title)}
            for key, i in (("previous", number - 1), ("next", number + 1))
            if 0 <= i < len(pages)
        }
        course = {
            "static": STATIC,
            "binder": links.binder_url(page.notebook),
            "colab": links.colab_url(page.notebook),
            "repository": links.repository_url(),
            **neighbours,
        }
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": page.title}, "course": course})
        (out / page.page).write_text(body, encoding="utf-8")
        page.bytes = (out / page.page).stat().st_size + _folder_bytes(out / files)
        page.seconds = round(time.perf_counter() - start, 1)
    index_course = {"static": STATIC, "binder": links.binder_url(), "repository": links.repository_url()}
    if pages:
        index_course["next"] = {"href": pages[0].page, "title": html.escape(pages[0].title)}
    body, _ = exporter.from_notebook_node(_index_notebook(pages, table), resources={"course": index_course})
    (out / "index.html").write_text(body, encoding="utf-8")
    manifest = {
        "pages": [asdict(page) for page in pages],
        "page_budget_bytes": PAGE_BUDGET_BYTES,
        "static_bytes": _folder_bytes(out / STATIC),
        "index_bytes": (out / "index.html").stat().st_size,
    }
    (out / "site.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return pages


def _describe(pages: list[PageReport], out: Path) -> str:
    lines = [f"{'page':<34} {'MB':>5} {'s':>5}  explorers (kernel-free views)"]
    for page in pages:
        explorers = ", ".join(f"{e.title[:28]} ({e.views if e.kernel_free else 'static'})" for e in page.explorers)
        lines.append(f"{page.page:<34} {page.bytes / 1e6:5.2f} {page.seconds:5.1f}  {explorers}")
    total = _folder_bytes(out)
    lines.append(f"site: {out} ({total / 1e6:.1f} MB, of which {_folder_bytes(out / STATIC) / 1e6:.1f} MB shared)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m website.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder, replaced (default: {OUT})")
    parser.add_argument(
        "--no-execute", action="store_true", help="do not run notebooks: explorers keep their stored picture"
    )
    args = parser.parse_args(argv)
    try:
        pages = build_site(args.out, execute=not args.no_execute)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_describe(pages, args.out))
    over = [p.page for p in pages if p.bytes > PAGE_BUDGET_BYTES]
    if over:
        print(f"error: over the page budget of {PAGE_BUDGET_BYTES / 1e6:g} MB: {', '.join(over)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
