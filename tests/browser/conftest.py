"""Session fixtures: one JupyterLab server over a copy of the notebooks, one headless chromium, one Lab page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from .lab_page import close_documents, has_dialog, open_lab
from .lab_server import ROOT, LabServer, jupyter_lab_command, start_lab

NOTEBOOKS = ROOT / "notebooks"
FIXTURES = ROOT / "tests" / "fixtures"
FIXTURES_SERVED_AS = "_browser_fixtures"  # folder of the served copy that holds the broken notebooks
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """``make lab``'s command line serving a copy of notebooks/ (Run All must not touch stored outputs)."""
    work = tmp_path_factory.mktemp("lab")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(NOTEBOOKS, work / "notebooks", ignore=ignore)
    shutil.copytree(FIXTURES, work / "notebooks" / FIXTURES_SERVED_AS, ignore=ignore)
    command = [*jupyter_lab_command(), "--LabApp.expose_app_in_browser=True"]  # lets a test run menu commands
    server = start_lab(command, cwd=work, state=tmp_path_factory.mktemp("lab-state"))
    yield server
    server.stop()


class LabTab:
    """The JupyterLab page the tests share; replaced by a fresh one after a failure or a stray dialog."""

    def __init__(self, browser: Browser, server: LabServer):
        self.browser, self.server, self.page = browser, server, None

    def get(self) -> Page:
        if self.page is None:
            self.page = open_lab(self.browser, self.server)
        return self.page

    def tidy(self, failed: bool) -> None:
        """Close the documents and shut every kernel down (kernels outlive their page)."""
        try:
            if self.page is not None and (failed or has_dialog(self.page)):
                self.page.context.close()
                self.page = None
            elif self.page is not None:
                close_documents(self.page)
        finally:
            self.server.shutdown_kernels()


@pytest.fixture(scope="session")
def lab_tab(chromium: Browser, lab_server: LabServer) -> Iterator[LabTab]:
    tab = LabTab(chromium, lab_server)
    yield tab
    tab.tidy(failed=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed  # read by lab_page's teardown
    return report


@pytest.fixture
def lab_page(request: pytest.FixtureRequest, lab_tab: LabTab) -> Iterator[Page]:
    """JupyterLab with no document open and no kernel running."""
    yield lab_tab.get()
    lab_tab.tidy(failed=getattr(request.node, "call_failed", True))
