"""Open a self-contained HTML page in real headless Chromium: its title, its images, and what it logged.

Needs Debian's chromium (`.ci/run` installs it) and the playwright package (dev extra); elsewhere the
calling test is skipped with a message. A full-page screenshot is written to `screenshot`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("MODEGAN_CHROMIUM", "/usr/bin/chromium")
# no background connections: this machine's closed network refuses them, noisily
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def require_chromium():
    """playwright's sync API, or a skip naming what is missing."""
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MODEGAN_CHROMIUM)")
    return pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")


def open_page(sync_api, page_path: Path, screenshot: Path) -> tuple[str, list[dict], list[str]]:
    """(title, [{alt, ok}] per image, console errors/warnings, page errors and failed requests)."""
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
        page.goto(page_path.as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))")
        page.screenshot(path=str(screenshot), full_page=True)
        title = page.title()
        browser.close()
    return title, images, problems
