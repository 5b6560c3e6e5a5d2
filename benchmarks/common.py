"""What every benchmark section shares: the report it writes into, Markdown tables, percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

# libgomp spins about 100 000 times per millisecond (its own estimate): 20 000 is ~0.2 ms of spinning
# after each parallel region, enough to keep the threads awake between the layers of one forward pass.
SPIN_COUNT = "20000"


@dataclass
class Report:
    """Markdown sections in the order measured, plus the figures the targets are checked against."""

    sections: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    # Targets checked inside a section: what, goal, measured, "" when met else how far off.
    targets: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, title: str, text: str) -> None:
        block = f"## {title}\n\n{text.rstrip()}\n"
        print("\n" + block, flush=True)
        self.sections.append(block)

    def target(self, what: str, goal: str, measured: str, missed_by: str) -> None:
        self.targets.append((what, goal, measured, missed_by))


def table(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a latency that really happened)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def shortfall(measured: float, goal: float, higher_is_better: bool = True) -> str:
    """How far a measurement is from its goal, in percent of the goal."""
    gap = (goal - measured) / goal if higher_is_better else (measured - goal) / goal
    return f"{'short' if higher_is_better else 'over'} by {gap:.0%}" if gap > 0 else ""
