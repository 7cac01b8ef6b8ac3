"""Lessons you can run: the closed forms, the estimates against them at stated sample counts, the
constraints' promises (GP near 1-Lipschitz, clipping bounds the weights), the CLI, and each page in headless
Chromium (skipped where Chromium or playwright is missing, as tests/test_report_browser.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import modegan.lessons as lessons
from browser import open_page, require_chromium
from modegan.cli import main
from modegan.data import load_dataset
from modegan.lessons import collapse, divergences, lipschitz, vanishing
from modegan.metrics import grid_reference, total_variation, tv_grid

LN2 = math.log(2)


def strict_json(path):
    """The lesson's JSON parsed strictly: NaN and Infinity are not JSON."""
    def refuse(token):
        raise ValueError(f"non-standard JSON constant {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


# ---------------------------------------------------------------------------------------------------------
# divergences: closed forms


@pytest.mark.parametrize("theta", [-2.0, -0.01, 1e-6, 0.5, 3.0])
def test_parallel_lines_closed_form_apart(theta):
    c = divergences.lines_closed_form(theta)
    assert c["kl_theta_0"] == math.inf and c["kl_0_theta"] == math.inf
    assert c["js"] == LN2 and c["tv"] == 1.0 and c["w1"] == abs(theta)


def test_parallel_lines_closed_form_at_zero():
    assert divergences.lines_closed_form(0.0) == {"kl_theta_0": 0.0, "kl_0_theta": 0.0, "js": 0.0, "tv": 0.0,
                                                  "w1": 0.0}


def test_gaussians_closed_form():
    for theta in (0.3, 1.0, 2.5):
        c = divergences.gaussians_closed_form(theta)
        assert c["kl_theta_0"] == c["kl_0_theta"] == pytest.approx(theta**2 / 2)
        assert c["w1"] == theta
        # TV of two unit-variance normals θ apart: 2Φ(θ/2) − 1 = erf(θ / (2√2))
        assert c["tv"] == pytest.approx(math.erf(theta / 2 / math.sqrt(2)), rel=1e-12)
    js = [divergences.gaussians_closed_form(t)["js"] for t in (0.0, 0.5, 1.0, 2.0, 4.0, 12.0)]
    assert js[0] == pytest.approx(0.0, abs=1e-12)
    assert all(a < b for a, b in zip(js, js[1:], strict=False)) and js[-1] == pytest.approx(LN2, abs=1e-6)
    # JS of a small shift: θ²/8 to leading order (the Fisher information of a unit normal's mean is 1)
    assert divergences.gaussians_closed_form(0.1)["js"] == pytest.approx(0.1**2 / 8, rel=0.01)


# ---------------------------------------------------------------------------------------------------------
# divergences: estimates against the closed forms


@pytest.mark.parametrize("theta", [-1.0, 0.05, 0.5, 2.0])
def test_parallel_lines_estimates_1000_samples(theta):
    """1000 samples each, cells of width 0.05: JS = ln 2 and TV = 1 exactly, KL infinite, W₁ (300 points each)
    within 0.05 of |θ|."""
    e = divergences.estimate("lines", theta, n=1000, n_w1=300)
    assert e["js"] == pytest.approx(LN2, abs=1e-12) and e["tv"] == pytest.approx(1.0, abs=1e-12)
    assert e["kl_theta_0"] == math.inf and e["kl_0_theta"] == math.inf
    assert abs(e["w1"] - abs(theta)) < 0.05


def test_parallel_lines_estimates_at_zero_are_small():
    e = divergences.estimate("lines", 0.0, n=1000, n_w1=300)
    assert e["js"] < 0.01 and e["tv"] < 0.1 and e["w1"] < 0.05


@pytest.mark.parametrize("theta", [-1.0, 0.5, 2.0])
def test_gaussian_estimates_2000_samples(theta):
    """2000 samples each: JS within 0.03 nats, TV within 0.05, W₁ (500 points each) within 0.1; the KDE KL
    within 0.1 for |θ| ≤ 1 (beyond, it rests on a few tail samples: 0.4 at θ = 2)."""
    e, c = divergences.estimate("gaussians", theta, n=2000, n_w1=500), divergences.gaussians_closed_form(theta)
    assert abs(e["js"] - c["js"]) < 0.03
    assert abs(e["tv"] - c["tv"]) < 0.05
    assert abs(e["w1"] - c["w1"]) < 0.1
    tol = 0.1 if abs(theta) <= 1 else 0.4
    assert abs(e["kl_theta_0"] - c["kl_theta_0"]) < tol and abs(e["kl_0_theta"] - c["kl_0_theta"]) < tol


def test_divergence_estimates_are_deterministic():
    assert divergences.estimate("gaussians", 1.0, 500, 100) == divergences.estimate("gaussians", 1.0, 500, 100)


# ---------------------------------------------------------------------------------------------------------
# total variation in the toy metrics


def test_total_variation_by_hand():
    assert total_variation(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])) == pytest.approx(0.5)
    assert total_variation(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0


def test_tv_grid_of_the_mixture_and_far_away():
    mix = load_dataset("ring8", n_train=10).mixture
    near = tv_grid(mix.sample(20_000, torch.Generator().manual_seed(0)), mix)
    far = tv_grid(np.full((100, 2), 50.0), mix)
    overflow = grid_reference(mix).mass[-1]  # the true mass outside the grid, where the far samples all land
    assert near.value < 0.15 and far.value == pytest.approx(1.0 - overflow, abs=1e-12)
    assert near.protocol["cell_width"] == pytest.approx(0.3827, abs=1e-4)  # the jsd_grid grid


# ---------------------------------------------------------------------------------------------------------
# lipschitz


@pytest.fixture(scope="module")
def lipschitz_quick():
    torch.set_num_threads(1)
    return lipschitz.compute(quick=True)


def test_gradient_penalty_critic_is_near_1_lipschitz(lipschitz_quick):
    """300 critic steps: max ‖∇ₓf‖ over 500 interpolates within [0.8, 1.3], the W₁ estimate within 15%."""
    gp = lipschitz_quick["critics"]["gradient penalty"]
    assert 0.8 < gp["lipschitz"] < 1.3
    assert abs(gp["estimated_w1"] - lipschitz_quick["exact_w1"]) < 0.15 * lipschitz_quick["exact_w1"]
    assert 0.7 < gp["grad_norm_mean"]["interpolates"] < 1.2


def test_clipping_bounds_the_weights(lipschitz_quick):
    for c in lipschitz.CLIPS:
        critic = lipschitz_quick["critics"][f"clip {c:g}"]
        assert critic["max_abs_weight"] <= c * (1 + 1e-6)
        assert max(abs(w) for w in critic["weights"]) <= c * (1 + 1e-6)
    assert lipschitz_quick["critics"]["clip 0.01"]["weights_at_bound"] > 0.5  # piled at ±c


def test_unconstrained_critic_overshoots_and_sn_stays_below(lipschitz_quick):
    exact = lipschitz_quick["exact_w1"]
    none, sn = lipschitz_quick["critics"]["none"], lipschitz_quick["critics"]["spectral norm"]
    assert none["lipschitz"] > 5 and none["estimated_w1"] > 5 * exact
    assert sn["lipschitz"] <= 1.0 + 1e-3 and sn["estimated_w1"] <= exact


# ---------------------------------------------------------------------------------------------------------
# vanishing gradients and collapse


def test_minimax_gradient_vanishes_as_d_saturates():
    torch.set_num_threads(1)
    gan = vanishing.train_and_measure("gan", 300)
    assert gan["d_fake"][-1] < 0.01 and gan["js_estimate"][-1] > 0.68
    assert gan["grad_minimax"][-1] < 0.25 * max(gan["grad_minimax"])
    assert gan["grad_nonsaturating"][-1] > 10 * gan["grad_minimax"][-1]


def test_chase_summary_by_hand():
    hist = [[90, 10, 0], [0, 100, 0], [5, 0, 95], [0, 100, 0]]
    s = collapse.chase_summary(hist, share=0.1)
    assert s["dominant_mode"] == [0, 1, 2, 1] and s["dominant_changes"] == 3
    assert s["distinct_dominant_modes"] == 3 and s["modes_holding_share"] == [2, 1, 1, 1]
    assert s["modes_ever_held"] == 3


def test_mode_histogram_counts_nearest_modes():
    mix = load_dataset("ring8", n_train=10).mixture
    x = np.array([[1.0, 0.0], [0.99, 0.0], [0.0, 1.2], [-1.0, 0.0]])
    counts, hq = collapse.mode_histogram(x, mix)
    assert counts == [2, 0, 1, 0, 1, 0, 0, 0] and hq == [2, 0, 0, 0, 1, 0, 0, 0]


# ---------------------------------------------------------------------------------------------------------
# running lessons: Python and CLI


def test_run_from_python_writes_page_and_strict_json(tmp_path):
    result = lessons.run("vanishing-gradients", out=tmp_path, quick=True)
    page, numbers = tmp_path / "vanishing-gradients.html", strict_json(tmp_path / "vanishing-gradients.json")
    assert result["html"] == str(page) and numbers["lesson"] == "vanishing-gradients" and numbers["quick"]
    text = page.read_text()
    assert "Claim." in text and "data:image/png;base64," in text and "docs/theory.md" in text
    assert "src=\"http" not in text and "src='http" not in text  # self-contained


def test_lessons_are_deterministic_and_leave_the_global_rng_alone(tmp_path):
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = lessons.run("vanishing-gradients", out=tmp_path / "a", quick=True)
    b = lessons.run("vanishing-gradients", out=tmp_path / "b", quick=True)
    assert a["gan"] == b["gan"] and a["critic"] == b["critic"]
    assert torch.equal(torch.get_rng_state(), state) and torch.get_num_threads() == threads


def test_unknown_lesson_is_one_line_listing_them(capsys):
    assert main(["lesson", "divergence"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unknown lesson 'divergence'; allowed: divergences, vanishing-gradients, collapse, "
                   "lipschitz"]
    with pytest.raises(Exception, match="unknown lesson"):
        lessons.run("nope", out="unused")


def test_cli_lists_and_runs(tmp_path, capsys):
    assert main(["lesson"]) == 0
    listed = [ln.split(":")[0] for ln in capsys.readouterr().out.splitlines()]
    assert listed == list(lessons.LESSONS)
    assert main(["lesson", "vanishing-gradients", "--quick", "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["lesson"] == "vanishing-gradients" and (tmp_path / "vanishing-gradients.html").exists()


def test_cli_refuses_a_file_as_out(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["lesson", "lipschitz", "--out", str(f)]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------
# every page in headless Chromium

FIGURES = {"divergences": 2, "vanishing-gradients": 1, "collapse": 2, "lipschitz": 4}


@pytest.mark.browser
@pytest.mark.parametrize("name", [
    "vanishing-gradients", "lipschitz",
    pytest.param("divergences", marks=pytest.mark.slow), pytest.param("collapse", marks=pytest.mark.slow),
])
def test_lesson_page_renders_in_headless_chromium(name, tmp_path):
    sync_api = require_chromium()
    lessons.run(name, out=tmp_path, quick=True)
    title, images, problems = open_page(sync_api, tmp_path / f"{name}.html", tmp_path / f"{name}.png")
    assert title.startswith("Lesson: ")
    assert len(images) == FIGURES[name] and all(i["ok"] for i in images), images
    assert problems == []
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["divergences", "collapse"])
def test_slower_lessons_quick_mode(name, tmp_path):
    result = lessons.run(name, out=tmp_path, quick=True)
    numbers = strict_json(tmp_path / f"{name}.json")
    assert numbers["lesson"] == name and result["json"] == str(tmp_path / f"{name}.json")
    if name == "collapse":
        assert set(numbers["runs"]) == {"gan", "wgan-gp-toy"}
        assert all(len(r["histogram"]) == len(r["step"]) == len(r["metrics"]) for r in numbers["runs"].values())


# ---------------------------------------------------------------------------------------------------------
# docs/theory.md, linked from the presets it explains


def test_presets_link_existing_theory_sections():
    import re
    from pathlib import Path

    from modegan.presets import PRESETS

    theory = (Path(__file__).resolve().parents[1] / "docs" / "theory.md").read_text()
    sections = {int(m) for m in re.findall(r"^## (\d+)\. ", theory, flags=re.M)}
    linked = [p for p in PRESETS.values() if p.theory]
    assert {"gan", "wgan", "wgan-gp", "iwgan", "diwgan"} <= {p.name for p in linked}
    for p in linked:
        assert p.theory.startswith("docs/theory.md §")
        cited = {int(a) for a in re.findall(r"§(\d+)", p.theory)}
        assert cited and cited <= sections, (p.name, p.theory)
