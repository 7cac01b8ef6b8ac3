"""Open a bench report in real headless Chromium: every image loads, the page logs no errors (tests/browser.py;
skipped with a message without Chromium or playwright). The screenshot is kept beside the report."""

from __future__ import annotations

import pytest

from browser import open_page, require_chromium
from modegan.bench import run_mog

pytestmark = pytest.mark.browser


def test_report_renders_in_headless_chromium(tmp_path):
    sync_api = require_chromium()
    run_mog(tmp_path, methods=["gan", "wgan"], datasets=["ring8", "cube27"], seeds=2, steps=30, eval_every=10,
            overrides={"data": {"n_train": 2000}, "train": {"eval_samples": 300}}, workers=1)
    title, images, problems = open_page(sync_api, tmp_path / "report.html", tmp_path / "report.png")
    assert title == "Mixture-of-Gaussians benchmark"
    assert len(images) == 14 and all(i["ok"] for i in images), images  # 7 figures per data set
    assert problems == []
    shot = (tmp_path / "report.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 10_000
