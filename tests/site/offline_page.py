"""A site page opened from disk in chromium with every request outside the site refused and recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, Route

# Images that failed to load: not complete, or decoded to nothing.
BROKEN_IMAGES = "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
EXPLORERS_READY = "() => Array.from(document.querySelectorAll('.static-explorer')).every(e => e.dataset.ready)"
MATH_DONE = "() => !window.MathJax || !MathJax.startup || MathJax.startup.promise.then(() => true)"


@dataclass
class OfflinePage:
    page: Page
    refused: list[str] = field(default_factory=list)  # requests outside the site
    errors: list[str] = field(default_factory=list)  # console errors, page errors, failed loads

    def problems(self) -> list[str]:
        return (
            [f"refused: {url}" for url in self.refused]
            + self.errors
            + [f"broken image: {src[:120]}" for src in self.page.evaluate(BROKEN_IMAGES)]
        )


def open_offline(browser: Browser, site: Path, name: str, timeout_s: float = 30) -> OfflinePage:
    """Open ``site/name`` as a reader would from disk; wait for its explorers and formulas."""
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    page = context.new_page()
    visit = OfflinePage(page)
    inside = site.resolve().as_uri() + "/"

    def route(route: Route) -> None:
        if route.request.url.startswith(inside):
            route.continue_()
        else:
            visit.refused.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and visit.errors.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: visit.errors.append(f"page error: {error}"))
    page.on("requestfailed", lambda request: visit.errors.append(f"failed to load: {request.url[:120]}"))
    page.goto((site / name).resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
    page.wait_for_function(EXPLORERS_READY, timeout=timeout_s * 1000)
    page.evaluate(MATH_DONE)
    return visit
