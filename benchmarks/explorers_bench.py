"""The explorers' latency for ``make bench``: each callback in this process, and in Chromium from a
control change to the new picture painted (``tests/browser/test_explorer_latency.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import Report, percentile, shortfall, table

ROOT = Path(__file__).resolve().parents[1]
# The project's targets (issue 14): every explorer's callback, and its picture painted in the browser.
TARGET_WIDGET_P95_S = 0.100
TARGET_PAINT_P95_S = 0.250


# --- explorers ---


def control_values(control: object, count: int) -> list[object]:
    """Up to ``count`` values spread over a control's options or range (its current value excluded)."""
    values: list[object]
    if hasattr(control, "options"):
        options = list(control.options.values()) if isinstance(control.options, dict) else list(control.options)
        values = [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]
    elif isinstance(getattr(control, "value", None), bool):
        values = [not control.value, control.value]
    elif hasattr(control, "min") and hasattr(control, "max"):
        low, high = control.min, control.max
        step = getattr(control, "step", None) or 1
        grid = [low + (high - low) * i / max(1, count - 1) for i in range(count)]
        snapped = [low + round((g - low) / step) * step for g in grid]
        if isinstance(control.value, tuple | list):  # range slider: move the upper end
            values = [(low, max(low, v)) for v in snapped]
        else:
            values = [type(control.value)(min(high, v)) for v in snapped]
    else:
        return []
    values = [v for v in values if v != control.value] + [control.value]
    if len(values) > count:  # spread evenly, keep the last (return to the start value)
        values = [values[round(i * (len(values) - 1) / (count - 1))] for i in range(count)]
    return values


def explorers(report: Report, per_control: int) -> None:
    """p50 / p95 of ``explorer.set(...)`` over a sweep of every control, the first call excluded."""
    from inception_lib.explorers import all_explorers

    rows = []
    found = all_explorers()
    for name, factory in sorted(found.items()):
        start = time.perf_counter()
        try:
            explorer = factory()
        except Exception as error:  # a broken explorer is reported, not fatal to the benchmark
            rows.append((name, "—", "—", "—", "—", f"factory failed: {type(error).__name__}: {error}"[:120]))
            continue
        build = time.perf_counter() - start
        latencies, swept = [], []
        for control_name, control in explorer.controls.items():
            values = control_values(control, per_control)
            if values:
                swept.append(f"{control_name} ({len(values)})")
            for value in values:
                start = time.perf_counter()
                explorer.set(**{control_name: value})
                latencies.append(time.perf_counter() - start)
        if len(latencies) < 2:
            rows.append((name, f"{build:.1f}", "—", "—", "—", "no control could be swept"))
            continue
        later = latencies[1:]
        p95 = percentile(later, 95)
        report.target(
            f"explorer `{name}` callback p95",
            "≤ 100 ms",
            f"{p95 * 1e3:.0f} ms",
            shortfall(p95, TARGET_WIDGET_P95_S, False),
        )
        rows.append(
            (
                name,
                f"{build:.1f}",
                f"{latencies[0] * 1e3:.0f}",
                f"{percentile(later, 50) * 1e3:.0f}",
                f"{p95 * 1e3:.0f}",
                ", ".join(swept),
            )
        )
    text = table(("explorer", "build s", "first call ms", "p50 ms", "p95 ms", "controls swept (values)"), rows)
    text += (
        "\n\nLatency of `explorer.set(**{control: value})` (render, PNG encoding, widget update; the browser's "
        "round trip is not included), sweeping each control over its options or evenly over its range, one at a "
        "time, then back to its start value; p50/p95 exclude each explorer's first call."
    )
    if not found:
        text = "No explorer is registered yet (`inception_lib.explorers.all_explorers()` is empty)."
    report.add("Explorer callback latency", text)


# --- explorers in a browser ---


def painted(report: Report) -> None:
    """From a control change to the new picture painted, in Chromium: ``tests/browser/test_explorer_latency.py``."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "painted.json"
        test = ROOT / "tests" / "browser" / "test_explorer_latency.py"
        env = os.environ | {"INCEPTION_PAINT_LATENCY_JSON": str(output)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", str(test), "-q"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if not output.exists():
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            report.add(
                "Explorers in Chromium",
                "Not measured: the browser test failed:\n\n" + "\n".join(f"    {line}" for line in tail),
            )
            return
        measured = json.loads(output.read_text())
    rows = []
    for name, entry in sorted(measured["explorers"].items()):
        times = entry["painted_ms"]
        p50, p95 = percentile(times, 50), percentile(times, 95)
        report.target(
            f"painted `{name}` p95", "≤ 250 ms", f"{p95:.0f} ms", shortfall(p95 / 1e3, TARGET_PAINT_P95_S, False)
        )
        rows.append((name, len(times), f"{p50:.0f}", f"{p95:.0f}", f"{max(times):.0f}", ", ".join(entry["controls"])))
    text = table(("explorer", "changes", "p50 ms", "p95 ms", "max ms", "kinds of control moved"), rows)
    text += (
        "\n\nIn JupyterLab in headless Chromium (`tests/browser/test_explorer_latency.py`): from the first input event "
        "of a control change (key press, click, select) to the first animation frame after the explorer's output "
        "changed, i.e. the frame that paints the new picture. Each control moved several times, each explorer's first "
        f"change excluded. {measured['note']}"
    )
    report.add("Explorers in Chromium: control change to new picture painted", text)
