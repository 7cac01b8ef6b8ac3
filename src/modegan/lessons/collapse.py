"""Lesson `collapse`: a GAN on ring8 chasing one mode after another, beside a method that covers them all.

Mode collapse is not a generator that finds one mode and stays there: the discriminator learns to reject the
mode the generator occupies, the generator jumps to the next, and the cycle repeats (Metz et al. 2017,
Figure 1; docs/theory.md §1 and §5). This lesson trains presets `gan` and `wgan-gp-toy` with the library's
own training loop (`modegan.train`), stopping after every evaluation and resuming, so the generator of each
evaluation can be sampled: the histogram of its samples over the 8 modes shows the chase.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from modegan.data import load_dataset
from modegan.metrics.toy import nearest_component
from modegan.train import train
from modegan.train.load import load
from modegan.train.rundir import RunDir

SEED = 0
N_SAMPLES = 1000  # generator samples per evaluation for the histogram (and the run's own metrics)
METHODS = ("gan", "wgan-gp-toy")


def schedule(quick: bool) -> dict[str, tuple[int, int]]:
    """preset -> (generator steps, steps between evaluations). WGAN-GP takes 5 critic steps per generator
    step, so it gets fewer generator steps for a comparable time; it covers ring8 within a few hundred."""
    if quick:
        return {"gan": (500, 250), "wgan-gp-toy": (250, 125)}
    return {"gan": (3000, 200), "wgan-gp-toy": (1000, 125)}


def mode_histogram(x: np.ndarray, mix, threshold: float = 3.0) -> tuple[list[int], list[int]]:
    """Samples per mode by nearest mean, all of them and the high-quality ones (within `threshold` σ)."""
    nearest, dist = nearest_component(x, mix)
    k = mix.n_modes
    return np.bincount(nearest, minlength=k).tolist(), np.bincount(nearest[dist < threshold], minlength=k).tolist()


def train_with_histograms(preset: str, steps: int, every: int, root: Path) -> dict:
    """Train `preset` on ring8 to `steps`, pausing every `every` steps to sample the current generator."""
    mix = load_dataset("ring8", n_train=10).mixture
    out = root / preset
    cfg = {"preset": preset, "data": {"name": "ring8"},
           "train": {"steps": every, "eval_every": every, "eval_samples": N_SAMPLES, "plots": False,
                     "tensorboard": False, "seed": SEED}}
    record = {"step": [], "histogram": [], "hq_histogram": [], "samples": []}
    for target in range(every, steps + 1, every):
        if target == every:
            train(cfg, out=out, overwrite=True)
        else:
            train(resume=out, steps=target)
        x = load(out).sample(N_SAMPLES, torch.Generator().manual_seed(SEED)).numpy().astype(np.float64)
        counts, hq = mode_histogram(x, mix)
        record["step"].append(target)
        record["histogram"].append(counts)
        record["hq_histogram"].append(hq)
        record["samples"].append(x[:500].round(4).tolist())
    record["metrics"] = [{"step": r["step"], **r["metrics"]} for r in RunDir(out).read_metrics()]
    record |= chase_summary(record["histogram"])
    return record


def chase_summary(histograms: list[list[int]], share: float = 0.1) -> dict:
    """How the mass moves: the dominant mode of each evaluation, how many distinct ones there were, how often
    it changed, and how many modes hold at least `share` of the samples at each evaluation."""
    h = np.asarray(histograms, dtype=float)
    frac = h / h.sum(axis=1, keepdims=True)
    dominant = frac.argmax(axis=1)
    return {"dominant_mode": dominant.tolist(), "distinct_dominant_modes": int(len(set(dominant.tolist()))),
            "dominant_changes": int((dominant[1:] != dominant[:-1]).sum()),
            "modes_holding_share": (frac >= share).sum(axis=1).tolist(), "share": share,
            "modes_ever_held": int(((frac >= share).any(axis=0)).sum())}


def compute(quick: bool = False) -> dict:
    out = {"dataset": "ring8", "seed": SEED, "n_samples": N_SAMPLES, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="modegan-lesson-collapse-") as tmp:
        for preset, (steps, every) in schedule(quick).items():
            out["runs"][preset] = {"steps": steps, "eval_every": every,
                                   **train_with_histograms(preset, steps, every, Path(tmp))}
    return out


# ---------------------------------------------------------------------------------------------------------
# page


def _heatmaps(numbers: dict):
    import matplotlib.pyplot as plt

    runs = numbers["runs"]
    fig, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4.2), dpi=80, squeeze=False)
    for ax, (preset, r) in zip(axes[0], runs.items(), strict=True):
        h = np.asarray(r["histogram"], dtype=float)
        im = ax.imshow(h / h.sum(axis=1, keepdims=True), aspect="auto", cmap="magma", vmin=0, vmax=1,
                       origin="lower")
        ax.set_yticks(range(len(r["step"])), [str(s) for s in r["step"]], fontsize=7)
        ax.set_xticks(range(h.shape[1]))
        ax.set_xlabel("mode (nearest ring8 mean)")
        ax.set_ylabel("generator step")
        ax.set_title(f"{preset}: share of samples per mode", fontsize=10)
        fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def _scatters(numbers: dict, columns: int = 6):
    from modegan.report.plots import panels_figure

    mix = load_dataset("ring8", n_train=10).mixture
    real = mix.sample(500, torch.Generator().manual_seed(SEED + 1)).numpy()
    panels = []
    for preset, r in numbers["runs"].items():
        n = len(r["step"])
        for i in sorted({round(j * (n - 1) / max(min(columns, n) - 1, 1)) for j in range(min(columns, n))}):
            panels.append((f"{preset}, step {r['step'][i]}", np.asarray(r["samples"][i]), real, mix.means))
        panels += [("", np.zeros((1, 2)), real, mix.means)] * (-len(panels) % columns)
    return panels_figure(panels, cols=columns, size=2.6)


def page(numbers: dict) -> tuple[str, list]:
    from modegan.lessons.page import fig_uri, table

    gan, wgp = numbers["runs"]["gan"], numbers["runs"]["wgan-gp-toy"]
    text = (
        "<p><b>Claim.</b> A GAN's generator does not settle on a subset of the modes: it moves its mass from one "
        "mode to another as the discriminator learns to reject whichever it occupies, so at any moment it covers "
        "few modes, and over training it visits many. A critic that estimates a distance (WGAN-GP) gives the "
        "generator a reason to spread out, and it covers all of them (docs/theory.md §1–2, §5).</p>"
        f"<p><b>Shown.</b> Presets <code>gan</code> ({gan['steps']} generator steps) and <code>wgan-gp-toy</code> "
        f"({wgp['steps']} generator steps, 5 critic steps each) on ring8, trained by <code>modegan.train</code> and "
        f"sampled ({numbers['n_samples']} samples) at every evaluation. GAN: the mode holding most samples changed "
        f"{gan['dominant_changes']} times over {len(gan['step'])} evaluations, through "
        f"{gan['distinct_dominant_modes']} different modes; {gan['modes_ever_held']} modes held ≥ "
        f"{100 * gan['share']:.0f}% of the samples at some evaluation, but at most "
        f"{max(gan['modes_holding_share'])} at once (last: {gan['modes_holding_share'][-1]}). WGAN-GP: "
        f"{min(wgp['modes_holding_share'])}–{max(wgp['modes_holding_share'])} modes at ≥ "
        f"{100 * wgp['share']:.0f}% at every evaluation (last: {wgp['modes_holding_share'][-1]}).</p>"
        f'<p class="note">One seed (train.seed = {numbers["seed"]}) of each; preset <code>gan</code> is explained in '
        "docs/theory.md §1, <code>wgan-gp-toy</code> in §2–4.</p>"
    )
    rows = []
    for preset, r in numbers["runs"].items():
        for step, m, held, dom in zip(r["step"], r["metrics"], r["modes_holding_share"], r["dominant_mode"],
                                      strict=True):
            rows.append([preset, step, held, dom, m.get("modes"), m.get("hqs"), m.get("jsd_grid")])
    head = ["preset", "step", f"modes ≥ {100 * gan['share']:.0f}%", "dominant mode", "modes (HQ, metric)",
            "hqs %", "jsd_grid"]
    return "Lesson: mode collapse is a chase", [
        text,
        ("Share of each evaluation's samples nearest each ring8 mode (rows: evaluations)", fig_uri(_heatmaps(numbers))),
        ("Samples over training (blue) over real ring8 (grey)", fig_uri(_scatters(numbers))),
        "<h2>Per evaluation (the run's own metrics beside the histogram)</h2>" + table(head, rows),
    ]
