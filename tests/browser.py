"""Headless Chromium for the viewer's test and benchmark: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it starts /usr/bin/chromium (scripts/
setup_test_tools.sh installs it) with software GL (SwiftShader), a fresh profile and no
background traffic, so every request the page makes is one the viewer made.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

from twin.settings import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
VIEWPORT = {"width": 1280, "height": 800}
#: Screenshots the tests keep (not committed; CI may publish the folder).
ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@contextmanager
def chromium(viewport: dict | None = None) -> Iterator[BrowserContext]:
    """A headless Chromium context with a fresh profile directory, closed on exit."""
    with tempfile.TemporaryDirectory(prefix="twin-chromium-") as profile, \
            sync_playwright() as playwright:
        # launch_persistent_context is Playwright's way to give --user-data-dir.
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport=viewport or VIEWPORT)
        try:
            yield context
        finally:
            context.close()


def artifact(name: str) -> Path:
    """Where a test keeps the file ``name``."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def watch(page: Page) -> tuple[list[str], list[str]]:
    """The page's console and page errors, and the URL of every request it makes, as they
    come (two lists the caller reads after the page has done its work)."""
    errors: list[str] = []
    seen: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: seen.append(r.url))
    return errors, seen
