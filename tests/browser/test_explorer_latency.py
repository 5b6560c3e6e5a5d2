"""Every registered explorer in JupyterLab: each control change paints a new picture, and the time
from the change to that paint is recorded per explorer (``make bench`` reports it; a test never
asserts a time).

The clock runs in the page: it starts at the first input event of the change (key press, pointer
press, select) and stops in the first task after the animation frame that follows the explorer's
last output mutation (images decoded first), i.e. once that frame has been painted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Locator, Page

from inception_lib.explorers import all_explorers
from inception_lib.explorers.base import EXPLORER_CLASS, OUTPUT_CLASS

from .lab_page import assert_clean, movable_controls, move, open_notebook, run_all
from .lab_server import LabServer

pytestmark = pytest.mark.browser

# ``make bench`` sets this to collect the timings; it also asks for more changes per control.
RESULTS_ENV = "INCEPTION_PAINT_LATENCY_JSON"
MOVES = 5 if os.environ.get(RESULTS_ENV) else 2
SETTLE_S = 0.3  # no further output mutation for this long: the change has been drawn completely
TIMEOUT_S = 30

_INSTRUMENT = """(explorer, output) => {
  const state = {start: null, painted: null, mutations: 0};
  explorer.__latency = state;
  for (const type of ['pointerdown', 'mousedown', 'keydown', 'input', 'change']) {
    explorer.addEventListener(type, () => { if (state.start === null) state.start = performance.now(); }, true);
  }
  new MutationObserver(() => {
    state.mutations += 1;
    const seen = state.mutations;
    const images = Array.from(output.querySelectorAll('img'), img => img.decode().catch(() => null));
    Promise.all(images).then(() => requestAnimationFrame(() => setTimeout(() => {
      if (state.mutations === seen && state.start !== null) state.painted = performance.now();
    })));
  }).observe(output, {subtree: true, childList: true, attributes: true, characterData: true});
}"""
_RESET = "(explorer) => { Object.assign(explorer.__latency, {start: null, painted: null}); }"
_READ = "(explorer) => ({...explorer.__latency})"
_SIGNATURE = "(output) => Array.from(output.querySelectorAll('img'), img => img.src).join('|') || output.innerHTML"


def write_notebook(server: LabServer, names: list[str]) -> str:
    """A notebook that builds every registered explorer and shows each in its own cell; its served path."""
    cells = [
        nbformat.v4.new_code_cell(
            "from inception_lib.explorers import all_explorers\n\n"
            "explorers = {name: make() for name, make in sorted(all_explorers().items())}"
        )
    ]
    cells += [nbformat.v4.new_code_cell(f"explorers[{name!r}]") for name in names]
    path = server.cwd / "notebooks" / "_latency" / "explorers.ipynb"
    path.parent.mkdir(exist_ok=True)
    kernel = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel}), path)
    return "_latency/explorers.ipynb"


def timed_change(page: Page, explorer: Locator, output: Locator, kind: str, control: Locator) -> float | None:
    """Milliseconds from moving ``control`` to the new picture painted; None if it could not move."""
    before = output.evaluate(_SIGNATURE)
    explorer.evaluate(_RESET)
    if not move(kind, control):
        return None
    deadline = time.monotonic() + TIMEOUT_S
    while output.evaluate(_SIGNATURE) == before:
        assert time.monotonic() < deadline, f"the output did not change within {TIMEOUT_S} s after moving a {kind}"
        time.sleep(0.02)
    last, settled_since = None, time.monotonic()
    while time.monotonic() < deadline:
        state = explorer.evaluate(_READ)
        if state["painted"] is not None and state["mutations"] == last and time.monotonic() - settled_since > SETTLE_S:
            return state["painted"] - state["start"]
        if state["mutations"] != last:
            last, settled_since = state["mutations"], time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"the new output was not painted within {TIMEOUT_S} s after moving a {kind}")


@pytest.mark.timeout(900)
def test_every_explorer_paints_each_change(lab_page: Page, lab_server: LabServer):
    names = sorted(all_explorers())
    path = write_notebook(lab_server, names)
    panel = lab_page.locator(f"[id='{open_notebook(lab_page, path, 120)}']")
    run_all(lab_page, path, 300)
    assert_clean(lab_page, path, "after Run All")
    explorers = panel.locator(f".{EXPLORER_CLASS}").all()
    assert len(explorers) == len(names)
    measured: dict[str, dict[str, object]] = {}
    for name, explorer in zip(names, explorers, strict=True):
        output = explorer.locator(f".{OUTPUT_CLASS}").first
        explorer.evaluate(_INSTRUMENT, output.element_handle())
        times, moved = [], []
        for kind, control in movable_controls(explorer):
            for _ in range(MOVES):
                latency = timed_change(lab_page, explorer, output, kind, control)
                if latency is None:
                    break
                times.append(latency)
                if kind not in moved:
                    moved.append(kind)
        assert times, f"{name}: no control of this explorer could be moved"
        measured[name] = {"painted_ms": times[1:] or times, "controls": moved}
    assert set(measured) == set(names)
    if os.environ.get(RESULTS_ENV):
        note = f"{MOVES} changes per control, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end."
        Path(os.environ[RESULTS_ENV]).write_text(json.dumps({"explorers": measured, "note": note}))
