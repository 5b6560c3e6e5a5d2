"""Checkpoints that survive crashes: atomic writes, safe loading, clear errors.

A checkpoint is written with ``assets.files.atomic_write`` (a temporary file, ``fsync``, then an
atomic rename): a reader sees the old checkpoint or the new one, never half of one, and a save that
fails part-way leaves the previous checkpoint untouched. Loading uses
``torch.load(weights_only=True)``, which refuses to run code hidden in a file (pickles of arbitrary
objects).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..assets.files import atomic_write

FORMAT = "inception_lib.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that exists but is not a readable checkpoint of this library (truncated, foreign, too new)."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically to ``path``; returns the path."""
    payload = {"format": FORMAT, "version": VERSION, **state}
    return atomic_write(path, lambda file: torch.save(payload, file))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint``.

    ``FileNotFoundError`` if there is no file at ``path``; ``CheckpointError`` (a ``ValueError``)
    if the file is truncated, corrupt, not a torch file, or a torch file of some other program.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch.load fails in many ways (zip, pickle, legacy-format errors) on bad bytes
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated, corrupt or not a torch file): {err}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is a torch file but not an inception_lib checkpoint (no format marker {FORMAT!r}; found {found})"
        )
    if state.get("version", 0) > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {state['version']}; this library reads up to {VERSION}")
    return state
