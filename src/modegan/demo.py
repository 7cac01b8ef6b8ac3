"""`make demo`: the mode-coverage benchmark on a small budget, ending with its HTML report."""

from __future__ import annotations

from pathlib import Path

from modegan.bench.mog import plan_mog
from modegan.bench.results import Row
from modegan.bench.suite import run_planned

DEMO_PRESETS = ("gan", "wgan", "wgan-gp-toy", "iwgan", "diwgan", "unrolled", "veegan", "pacgan2")


def run_demo(out: str | Path, *, datasets: list[str], steps: int, presets: list[str], seeds: int = 2,
             workers: int = 2, on_done=None) -> list[Row]:
    """`bench mog` with the demo presets: runs, results.csv, results.md and report.html in `out`.

    Finished runs with the same config are reused and unfinished ones resumed, as in `bench`.
    """
    plan = plan_mog(out, methods=presets, datasets=datasets, seeds=seeds, steps=steps)
    return run_planned(plan, workers=workers, on_done=on_done)
