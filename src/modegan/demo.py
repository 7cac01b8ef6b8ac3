"""`make demo`: the mode-coverage benchmark on a setting the budget study shows converged, in minutes.

ring8 at 10,000 generator steps (README "Budget study"): by then DIWGAN covers all 8 modes at about 93 %
high-quality samples (its modes settled from the first evaluation), while the GAN has collapsed onto one or
two modes, and PacGAN2 covers the ring. VEEGAN (near noise at every budget studied) is left out to keep the
demo under 5 minutes: with it the demo took 291 s on the 2-core machine, without it 227 s. Unrolled GAN also
covers the ring by then, but at about 52 steps a second it alone would take six minutes.
"""

from __future__ import annotations

from pathlib import Path

from modegan.bench.mog import plan_mog
from modegan.bench.results import Row
from modegan.bench.suite import run_planned

DEMO_PRESETS = ("gan", "diwgan", "pacgan2")
DEMO_DATA = "ring8"
DEMO_STEPS = 10_000


def run_demo(out: str | Path, *, datasets: list[str], steps: int, presets: list[str], seeds: int = 2,
             workers: int = 2, on_done=None) -> list[Row]:
    """`bench mog` with the demo presets: runs, results.csv, results.md and report.html in `out`.

    Finished runs with the same config are reused and unfinished ones resumed, as in `bench`.
    """
    plan = plan_mog(out, methods=presets, datasets=datasets, seeds=seeds, steps=steps)
    return run_planned(plan, workers=workers, on_done=on_done)
