"""The per-epoch metrics log (one JSON object per line) and the recorded runs shipped with the library."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..assets import asset_path
from .checkpoint import atomic_write

METRICS_FILE = "metrics.jsonl"


def write_metrics(path: str | Path, history: Sequence[dict[str, Any]]) -> Path:
    """Write the whole history, one epoch per line, atomically (a resumed run rewrites what it inherited)."""
    text = "".join(json.dumps(record, sort_keys=True) + "\n" for record in history)
    return atomic_write(path, text.encode("utf-8"))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics log, in order."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no metrics log at {path}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _runs_folder() -> Path:
    """Per-epoch logs of the runs documented in docs/training.md (built-in shapes), shipped with the library."""
    return asset_path("runs")


def recorded_runs() -> list[str]:
    """Names of the recorded runs: ``cpu`` is ``python -m inception_lib train --preset cpu`` as documented."""
    return sorted(p.stem for p in _runs_folder().glob("*.jsonl"))


def recorded_run(name: str = "cpu") -> list[dict[str, Any]]:
    """The per-epoch log of a recorded run (see ``recorded_runs`` and docs/training.md)."""
    if name not in recorded_runs():
        raise ValueError(f"unknown recorded run {name!r}; available: {', '.join(recorded_runs())}")
    return read_metrics(_runs_folder() / f"{name}.jsonl")
