"""Drive one notebook in JupyterLab the way a reader does: open it, Run All, look, move every explorer.

``check_notebook`` raises ``NotebookCheckFailed`` (an ``AssertionError``) naming what went wrong: an
error output, a traceback on stderr, a cell left unexecuted, a widget that shows "Error displaying
widget" or never renders, or an explorer whose output does not change when its controls move.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, Playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from inception_lib.explorers.base import DESCRIPTION_PREFIX, EXPLORER_CLASS, OUTPUT_CLASS

from .lab_server import LabServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's package; never a Playwright download
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_ERROR = "Error displaying widget"
RESPONSE_TIMEOUT_S = 15  # an explorer's callback should take well under a second


class NotebookCheckFailed(AssertionError):
    """The notebook did not run cleanly or a widget did not render or respond in the browser."""


@dataclass
class NotebookReport:
    path: str
    code_cells: int = 0
    widgets: int = 0
    explorers: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)  # (explorer title, kind of control that drove it)
    seconds: dict[str, float] = field(default_factory=dict)


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_lab(browser: Browser, server: LabServer, timeout_s: float = 90) -> Page:
    """JupyterLab in a fresh browser context (it sends the token with every request) and a reset layout.

    One page serves many notebooks: reloading JupyterLab for each would cost seconds per notebook.
    """
    context = browser.new_context(viewport=VIEWPORT, extra_http_headers={"Authorization": f"token {server.token}"})
    page = context.new_page()
    page.goto(f"{server.url}/lab?reset", timeout=timeout_s * 1000)
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=timeout_s * 1000)
    page.evaluate(
        """(ms) => Promise.race([window.jupyterapp.restored, new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`JupyterLab did not restore its layout in ${ms} ms`)), ms))])""",
        timeout_s * 1000,
    )
    return page


def close_documents(page: Page) -> None:
    """Drop every open document without a save dialog (the served notebooks are throwaway copies)."""
    page.evaluate("""() => {
      for (const widget of Array.from(window.jupyterapp.shell.widgets('main'))) { widget.dispose(); }
    }""")


def has_dialog(page: Page) -> bool:
    """Whether a modal dialog (which would swallow clicks) is open."""
    return page.locator(".jp-Dialog").count() > 0


# The notebook panel showing `path`, from the app object the test server exposes (window.jupyterapp).
_FIND_PANEL = "Array.from(window.jupyterapp.shell.widgets('main')).find(w => w.context && w.context.path === path)"
_PANEL = f"const panel = {_FIND_PANEL};\nif (!panel) throw new Error('no notebook panel for ' + path);"

# Page calls never await a promise that a dialog could hold forever: they start it and poll with a deadline.
_RUN_ALL = f"""(path) => {{
  {_PANEL}
  window.jupyterapp.shell.activateById(panel.id);
  window.__runAll = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    ok => {{ window.__runAll = {{ok}}; }}, error => {{ window.__runAll = {{error: String(error)}}; }});
}}"""

# Per code cell: what the kernel sent (the model) beside what the page shows (the DOM).
_STATE = f"""(path) => {{
  {_PANEL}
  return panel.content.widgets.filter(cell => cell.model.type === 'code').map((cell, index) => {{
    const outputs = cell.model.outputs.toJSON();
    const shown = Array.from(cell.node.querySelectorAll(
      '.jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output'));
    return {{
      index,
      source: cell.model.sharedModel.getSource(),
      count: cell.model.executionCount,
      tags: cell.model.getMetadata('tags') || [],
      pending: cell.node.querySelector('.jp-InputPrompt').textContent.includes('*'),
      errors: outputs.filter(o => o.output_type === 'error').map(o => o.ename + ': ' + o.evalue),
      widgets: outputs.filter(o => o.data && o.data['{WIDGET_MIME}']).length,
      explorers: outputs.filter(o => String(o.data?.['text/plain'] || '').startsWith('{DESCRIPTION_PREFIX}')).length,
      rendered: shown.filter(node => node.querySelector(':scope > .jupyter-widgets')).length,
      failed: shown.filter(node => node.textContent.includes('{WIDGET_ERROR}')).length,
      shownExplorers: cell.node.querySelectorAll('.{EXPLORER_CLASS}').length,
      loading: shown.filter(node => node.textContent.includes('Loading widget')).length,
      widgetErrors: shown.flatMap(node => [
        ...(node.textContent.includes('{WIDGET_ERROR}') ? [node.textContent] : []),
        // ipywidgets 8 shows a view that failed to build as an icon; a click reveals its message.
        ...Array.from(node.querySelectorAll('.jupyter-widgets-error-widget'), view => {{
          view.parentElement.click();
          return '{WIDGET_ERROR} (error view): ' + view.textContent;
        }}),
      ]),
      tracebacks: shown.filter(node => node.dataset.mimeType === 'application/vnd.jupyter.stderr'
        && node.textContent.includes('Traceback')).map(node => node.textContent.slice(0, 300)),
    }};
  }});
}}"""

# What an explorer shows: the bytes of its image (hashed), else its HTML.
_OUTPUT_SIGNATURE = """async (box) => {
  const parts = [];
  for (const img of box.querySelectorAll('img')) {
    try {
      const bytes = await (await fetch(img.src)).arrayBuffer();
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      parts.push('img:' + Array.from(digest, b => b.toString(16).padStart(2, '0')).join(''));
    } catch (error) {
      parts.push('img-unreadable:' + img.src);
    }
  }
  return parts.length ? parts.join('|') : 'html:' + box.innerHTML;
}"""


_KERNEL_IDLE = f"""(path) => {{
  const panel = {_FIND_PANEL};
  const kernel = panel && panel.context.isReady && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return Boolean(kernel) && kernel.status === 'idle';
}}"""


def wait_kernel_idle(page: Page, path: str, timeout_s: float) -> None:
    try:
        page.wait_for_function(_KERNEL_IDLE, arg=path, timeout=timeout_s * 1000, polling=250)
    except PlaywrightTimeoutError:
        raise NotebookCheckFailed(f"{path}: the kernel was not idle within {timeout_s:.0f} s") from None


def open_notebook(page: Page, path: str, timeout_s: float) -> str:
    """Open ``path`` (the File Browser's command), wait until its kernel is idle; return the panel's DOM id."""
    page.evaluate("(path) => { window.jupyterapp.commands.execute('docmanager:open', {path}); }", path)
    wait_kernel_idle(page, path, timeout_s)
    return page.evaluate(f"(path) => {{ {_PANEL} return panel.id; }}", path)


def run_all(page: Page, path: str, timeout_s: float) -> None:
    """Run All (the menu's command) and wait until every queued cell has finished and the kernel is idle."""
    page.evaluate(_RUN_ALL, path)
    try:
        page.wait_for_function("() => window.__runAll !== null", timeout=timeout_s * 1000, polling=250)
    except PlaywrightTimeoutError:
        running = [_cell_name(cell) for cell in page.evaluate(_STATE, path) if cell["pending"]]
        raise NotebookCheckFailed(
            f"{path}: Run All did not finish within {timeout_s:.0f} s; still queued or running: {running[:3]}"
        ) from None
    outcome = page.evaluate("() => window.__runAll")
    if "error" in outcome:
        raise NotebookCheckFailed(f"{path}: Run All failed: {outcome['error']}")
    wait_kernel_idle(page, path, timeout_s)


def settled_state(page: Page, path: str, timeout_s: float) -> list[dict]:
    """The cells' state once no prompt is pending and no widget is still loading (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        cells = page.evaluate(_STATE, path)
        busy = any(
            cell["pending"] or cell["loading"] or cell["rendered"] + cell["failed"] < cell["widgets"] for cell in cells
        )
        if not busy or time.monotonic() > deadline:
            return cells
        time.sleep(0.25)


def _cell_name(cell: dict) -> str:
    first_line = next(iter(cell["source"].strip().splitlines()), "")
    return f"code cell {cell['index']} ({first_line[:60]!r})"


def problems(cells: list[dict]) -> list[str]:
    """Everything wrong with the executed notebook, one line per problem, naming the code cell."""
    found = []
    for cell in cells:
        where = _cell_name(cell)
        if "raises-exception" not in cell["tags"]:  # nbval's and JupyterLab's tag for a cell meant to fail
            found += [f"{where}: error output {error}" for error in cell["errors"]]
            found += [f"{where}: traceback on stderr: {text}" for text in cell["tracebacks"]]
        found += [f"{where}: {text.strip()[:300]}" for text in cell["widgetErrors"]]
        if cell["source"].strip() and (cell["count"] is None or cell["pending"]):
            found.append(f"{where}: not executed by Run All")
        if cell["rendered"] < cell["widgets"]:
            found.append(f"{where}: {cell['widgets']} widget output(s), {cell['rendered']} rendered")
        if cell["shownExplorers"] < cell["explorers"]:
            found.append(f"{where}: {cell['explorers']} explorer(s) displayed, {cell['shownExplorers']} on the page")
    return found


# The controls a test knows how to move, by kind (ipywidgets 8 markup).
CONTROLS = {
    "slider": ".widget-slider .noUi-handle",
    "dropdown": ".widget-dropdown select",
    "toggle": ".widget-toggle-buttons",
    "checkbox": ".widget-checkbox input",
    "radio": ".widget-radio-box",
}


def movable_controls(explorer: Locator) -> list[tuple[str, Locator]]:
    """The explorer's controls a test knows how to move, in display order, with their kind."""
    found = []
    for control in explorer.locator(", ".join(CONTROLS.values())).all():
        kind = next(kind for kind, css in CONTROLS.items() if control.evaluate("(node, css) => node.matches(css)", css))
        found.append((kind, control))
    return found


def move(kind: str, control: Locator) -> bool:
    """Change one control by one step, as a reader would with the keyboard or the mouse.

    Returns False when the control has nowhere to go (a dropdown with one option, say).
    """
    control.scroll_into_view_if_needed()
    if kind == "slider":
        if control.get_attribute("aria-valuemin") == control.get_attribute("aria-valuemax"):
            return False
        at_max = control.get_attribute("aria-valuenow") == control.get_attribute("aria-valuemax")
        control.focus()
        control.press("ArrowLeft" if at_max else "ArrowRight")
    elif kind == "dropdown":
        current = control.input_value()
        others = [v for v in control.locator("option").evaluate_all("os => os.map(o => o.value)") if v != current]
        if not others:
            return False
        control.select_option(others[0])
    elif kind in ("toggle", "radio"):
        choices = control.locator("button:not(.mod-active), input:not(:checked)")
        if not choices.count():
            return False
        choices.first.click()
    else:  # checkbox
        control.click()
    return True


def _signature(output: Locator) -> str:
    return output.evaluate(_OUTPUT_SIGNATURE)


def _changes(output: Locator, before: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _signature(output) != before:
            return True
        time.sleep(0.1)
    return False


def exercise_explorers(panel: Locator, path: str, timeout_s: float) -> list[tuple[str, str]]:
    """Move each explorer's controls until its output changes; fail for an explorer that never responds.

    Returns (title, kind of the control that changed the output) per explorer.
    """
    moved = []
    explorers = panel.locator(f".{EXPLORER_CLASS}").all()
    for number, explorer in enumerate(explorers):
        title = explorer.locator(".widget-html-content").first.text_content()
        output = explorer.locator(f".{OUTPUT_CLASS}").first
        controls = movable_controls(explorer)
        if not controls:
            raise NotebookCheckFailed(f"{path}: explorer {number} ({title!r}) has no control the test can move")
        for kind, control in controls:
            before = _signature(output)
            if move(kind, control) and _changes(output, before, timeout_s):
                moved.append((title, kind))
                break
        else:
            kinds = ", ".join(kind for kind, _ in controls)
            raise NotebookCheckFailed(
                f"{path}: explorer {number} ({title!r}): its output did not change within "
                f"{timeout_s:.0f} s after moving each control ({kinds})"
            )
    return moved


def assert_clean(page: Page, path: str, when: str) -> list[dict]:
    """The settled cells; ``NotebookCheckFailed`` listing every problem if there is any."""
    cells = settled_state(page, path, timeout_s=30)
    found = problems(cells)
    if found:
        raise NotebookCheckFailed(f"{path}, {when}:\n" + "\n".join(found))
    return cells


def check_notebook(
    page: Page,
    path: str,
    timeout_s: float = 240,
    screenshot: Path | None = None,
    response_timeout_s: float = RESPONSE_TIMEOUT_S,
) -> NotebookReport:
    """Open, Run All, check outputs and widgets, move every explorer; screenshot at the end, pass or fail."""
    report = NotebookReport(path)
    start = time.monotonic()
    try:
        panel = page.locator(f"[id='{open_notebook(page, path, timeout_s)}']")
        report.seconds["open"] = time.monotonic() - start
        run_all(page, path, max(1.0, timeout_s - report.seconds["open"]))
        report.seconds["run_all"] = time.monotonic() - start - report.seconds["open"]
        cells = assert_clean(page, path, "after Run All")
        report.code_cells = len(cells)
        report.widgets = sum(cell["widgets"] for cell in cells)
        report.explorers = panel.locator(f".{EXPLORER_CLASS}").count()
        mark = time.monotonic()
        report.moved = exercise_explorers(panel, path, response_timeout_s)
        report.seconds["explorers"] = time.monotonic() - mark
        assert_clean(page, path, "after moving the explorers")  # a callback may have printed a traceback
        return report
    finally:
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=screenshot)
