"""Files shipped inside the package, so that every notebook runs offline: the credited photos
(``photos/``, see ``photos/CREDITS.md``), trained weights (``checkpoints/``) and the per-epoch logs
of documented training runs (``runs/``), with ``images`` to read and preprocess photos.

Layer rule: imports torch, numpy and PIL only, never another part of ``inception_lib``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_path(*parts: str) -> Path:
    """Path of a shipped file or folder, e.g. ``asset_path("photos", "cat.jpg")`` (inside the installed package)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
