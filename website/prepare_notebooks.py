"""What ``make notebooks`` does to each notebook before running it: the setup cell, no widget state.

The first code cell of every notebook installs the library where it cannot be imported: on Colab, or
on any Python without the course's library, it runs ``%pip install`` from the repository
(``links.pip_requirement``); locally, on Binder (``postBuild`` installs the library) and under nbval
the import is found and the cell does nothing, printing nothing.

Stored widget state goes: it repeats each explorer's picture, and nbclient, told not to store widget
state, leaves an older one in place.

``python -m website.prepare_notebooks [NOTEBOOK ...]`` inserts the setup cell before each notebook's
first code cell, or updates it in place (it is recognised by its first line), drops widget state,
and rewrites only notebooks that change. ``tests/test_prepare_notebooks.py`` checks every notebook.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from . import links

MARKER = "# Colab or a Python without the course's library: install it from the repository (does nothing here)."


def setup_cell_source() -> str:
    """The cell's source, with the repository named in ``pyproject.toml``."""
    return (
        f"{MARKER}\n"
        "import importlib.util\n\n"
        'if importlib.util.find_spec("inception_lib") is None:\n'
        f'    %pip install --quiet "{links.pip_requirement()}"'
    )


def add_setup_cell(nb: nbformat.NotebookNode) -> bool:
    """Make the first code cell of ``nb`` the setup cell; whether ``nb`` changed."""
    source = setup_cell_source()
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if code and code[0].source.startswith(MARKER):
        if code[0].source == source:
            return False
        code[0].source = source
        return True
    position = nb.cells.index(code[0]) if code else len(nb.cells)
    nb.cells.insert(position, nbformat.v4.new_code_cell(source))
    return True


def drop_widget_state(nb: nbformat.NotebookNode) -> bool:
    """Remove the stored widget state of ``nb``; whether there was one."""
    return nb.metadata.pop("widgets", None) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m website.prepare_notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook in notebooks/")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((links.ROOT / links.NOTEBOOKS_DIR).glob("*.ipynb"))
    for path in paths:
        if not path.is_file():
            print(f"error: no notebook at {path}", file=sys.stderr)
            return 2
        nb = nbformat.read(path, as_version=4)
        if add_setup_cell(nb) | drop_widget_state(nb):  # both, always
            nbformat.write(nb, path)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
