"""Open a bench report in real headless Chromium: every image loads, the page logs no errors.

Needs Debian's chromium (`.ci/run` installs it) and the playwright package (dev extra); elsewhere the
test is skipped with a message. The screenshot is kept beside the report.
"""

from __future__ import annotations

import os
import shutil

import pytest

from modegan.bench import run_mog

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("MODEGAN_CHROMIUM", "/usr/bin/chromium")
# no background connections: this machine's closed network refuses them, noisily
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def test_report_renders_in_headless_chromium(tmp_path):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MODEGAN_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
    run_mog(tmp_path, methods=["gan", "wgan"], datasets=["ring8", "cube27"], seeds=2, steps=30, eval_every=10,
            overrides={"data": {"n_train": 2000}, "train": {"eval_samples": 300}}, workers=1)
    problems = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which(CHROMIUM), args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning")
                else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:80]}"))
        page.goto((tmp_path / "report.html").as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}))")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        title = page.title()
        browser.close()
    assert title == "Mixture-of-Gaussians benchmark"
    assert len(images) == 14 and all(i["ok"] for i in images), images  # 7 figures per data set
    assert problems == []
    shot = (tmp_path / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
