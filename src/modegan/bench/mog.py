"""`modegan bench mog`: the mixture-of-Gaussians mode-coverage benchmark (benchmarks.md §1–3).

Every method trains the shared networks (G 3x128, D 2x128, z 2, batch 256) for the same number of
generator steps on each dataset and seed; the outputs are results.csv (a row per run), results.md
(mean (std) over seeds beside the published numbers) and a self-contained report.html.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modegan.bench.results import Row
from modegan.bench.runs import RunSpec
from modegan.bench.suite import BenchPlan, make_plan, run_planned
from modegan.data import DATASETS
from modegan.errors import choice_error
from modegan.presets import PRESETS

MOG_DATASETS = ("ring8", "grid25", "grid25-random", "cube27")
DEFAULT_STEPS = 2_000  # chosen so the whole default suite stays practical on a 2-core CPU; recorded with results
DEFAULT_SEEDS = 10  # benchmarks.md §2


def plan_mog(out: str | Path, *, methods: list[str] | None = None, datasets: list[str] | None = None,
             seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, eval_every: int | None = None,
             overrides: dict | None = None) -> BenchPlan:
    """Resolve and check every run's config; bad names or values fail here, before anything trains."""
    datasets = list(datasets or MOG_DATASETS)
    for d in datasets:
        if d not in DATASETS and not Path(d).is_file():
            raise choice_error("dataset", d, DATASETS)
    return make_plan(
        "mog", "Mixture-of-Gaussians benchmark", out, methods=list(methods or PRESETS),
        groups={d: {"data": {"name": d}} for d in datasets}, seeds=seeds, steps=steps, eval_every=eval_every,
        overrides=overrides, setting="shared networks of benchmarks.md §3 (G 3x128 ReLU, D 2x128 ReLU, z 2, "
        "batch 256); per-method optimisers from the presets.")


def run_mog(out: str | Path, *, workers: int = 2, batch: bool = True, ray: str | None = None,
            on_done: Callable[[list[RunSpec], list[dict]], None] | None = None, **plan_kw) -> list[Row]:
    """`plan_mog` then `run_planned`: the Python form of `modegan bench mog`."""
    return run_planned(plan_mog(out, **plan_kw), workers=workers, batch=batch, ray=ray, on_done=on_done)
