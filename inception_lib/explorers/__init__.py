"""Interactive explorers, one module per topic, each a thin ``Explorer`` over a tested tool.

Layer rule: the only users of ipywidgets; may import every other layer except ``cli``.

Every topic module defines ``EXPLORERS``: a name -> zero-argument factory that builds the explorer
a notebook shows. ``all_explorers()`` gathers them, for the latency benchmark and the tests.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from .base import Explorer


def all_explorers() -> dict[str, Callable[[], Explorer]]:
    """Every registered explorer factory, keyed ``topic.name``."""
    found: dict[str, Callable[[], Explorer]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, factory in getattr(module, "EXPLORERS", {}).items():
            found[f"{info.name}.{name}"] = factory
    return found
