"""Trained weights as a file: the network's configuration, its weights and what it was trained on.

``python -m inception_lib train`` writes ``OUT_DIR/weights.pt`` at the end of every epoch (the
running average of the weights, which is what the run evaluates); ``load_weights`` rebuilds the
network from it. The copy shipped in ``assets/checkpoints/`` (``trained_model()``) was made that
way by the command in docs/training.md. Weights are stored in float16 to halve the file; they are
loaded back as float32. Loading uses ``torch.load(weights_only=True)``, which runs no code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ..model import InceptionV2, InceptionV2Config
from . import asset_path
from .files import atomic_write

FORMAT = "inception_lib.weights"
VERSION = 1
# The shipped network trained on the built-in shapes (docs/training.md says how it was made).
SHIPPED = "shapes"


def save_weights(
    path: str | Path, model: InceptionV2, classes: Sequence[str], metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write ``model``'s configuration and weights (float16) and ``classes`` atomically to ``path``."""
    config = dataclasses.asdict(model.config)
    state = {
        k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.cpu()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config,
        "classes": list(classes),
        "state_dict": state,
        "metadata": dict(metadata or {}),
    }
    return atomic_write(path, lambda file: torch.save(payload, file))


def read_weights(path: str | Path) -> dict[str, Any]:
    """The raw content of a weights file (``ValueError`` if it is not one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load fails in many ways on bad bytes
        raise ValueError(
            f"{path} is not a readable weights file (truncated, corrupt or not a torch file): {err}"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an inception_lib weights file (no format marker {FORMAT!r})")
    if payload.get("version", 0) > VERSION:
        raise ValueError(f"{path} has weights version {payload['version']}; this library reads up to {VERSION}")
    return payload


def load_weights(path: str | Path) -> InceptionV2:
    """The network stored at ``path``, in eval mode, with float32 weights; ``model.classes`` names its outputs."""
    payload = read_weights(path)
    config = InceptionV2Config(**payload["config"])
    model = InceptionV2(config)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    model.classes = tuple(payload["classes"])
    model.metadata = payload["metadata"]
    return model.eval()


def trained_model(name: str = SHIPPED) -> InceptionV2:
    """A network shipped with the library (``assets/checkpoints/<name>.pt``), in eval mode."""
    folder = asset_path("checkpoints")
    available = sorted(p.stem for p in folder.glob("*.pt"))
    if name not in available:
        raise ValueError(f"no shipped weights named {name!r}; available: {', '.join(available) or 'none'}")
    return load_weights(folder / f"{name}.pt")
