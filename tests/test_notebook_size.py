"""Stored notebooks stay light: notebooks/ within its budget (as README states), no picture stored twice."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
BUDGET_BYTES = 3_000_000
STATED_SLACK_MB = 0.2  # README's figure may lag re-executions by this much
DATA_URI = re.compile(r"data:image/[a-z+]+;base64,([A-Za-z0-9+/=]{200,})")


def _size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and ".ipynb_checkpoints" not in f.parts)


def test_notebooks_fit_the_budget_that_readme_states():
    size = _size(NOTEBOOKS)
    assert size <= BUDGET_BYTES, f"notebooks/ holds {size / 1e6:.2f} MB, more than {BUDGET_BYTES / 1e6:g} MB"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"`notebooks/` holds ([0-9.]+) MB \(at most ([0-9.]+) MB", readme)
    assert match, "README must say: `notebooks/` holds X MB (at most 3 MB …"
    assert float(match[2]) == BUDGET_BYTES / 1e6
    assert abs(float(match[1]) - size / 1e6) <= STATED_SLACK_MB, f"README says {match[1]} MB, it is {size / 1e6:.2f}"


def _pictures(nb: dict) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of every picture a notebook stores: image outputs, data URIs, widget-state buffers."""
    for index, cell in enumerate(nb["cells"]):
        for output in cell.get("outputs", []):
            for mime, value in output.get("data", {}).items():
                text = "".join(value) if isinstance(value, list) else value
                if mime.startswith("image/") and mime != "image/svg+xml":
                    yield f"cell {index} {mime}", base64.b64decode(text)
                elif isinstance(text, str):
                    for uri in DATA_URI.findall(text):
                        yield f"cell {index} {mime} data URI", base64.b64decode(uri)
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model_id, model in state.get("state", {}).items():
        for buffer in model.get("buffers", []):
            yield f"widget {model_id}", base64.b64decode(buffer["data"])
        for value in model.get("state", {}).values():
            for uri in DATA_URI.findall(value) if isinstance(value, str) else []:
                yield f"widget {model_id} data URI", base64.b64decode(uri)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.rglob("*.ipynb")), ids=lambda p: p.name)
def test_no_picture_is_stored_twice(path):
    seen: dict[str, str] = {}
    twice = []
    for where, data in _pictures(json.loads(path.read_text(encoding="utf-8"))):
        digest = hashlib.sha256(data).hexdigest()
        if digest in seen:
            twice.append(f"{where} repeats {seen[digest]}")
        seen.setdefault(digest, where)
    assert not twice, f"re-execute with `make notebooks NB={path.relative_to(ROOT)}` (stores no widget state): {twice}"
