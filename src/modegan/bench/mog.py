"""`modegan bench mog`: the mixture-of-Gaussians mode-coverage benchmark (benchmarks.md §1–3).

Every method trains the shared networks (G 3x128, D 2x128, z 2, batch 256) for the same number of
generator steps on each dataset and seed; the outputs are results.csv (a row per run), results.md
(mean (std) over seeds beside the published numbers) and a self-contained report.html.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from modegan.bench.results import Row, collect, markdown, read_row, write_csv
from modegan.bench.runs import RunSpec, exclusive, execute, plan
from modegan.config import merge
from modegan.data import DATASETS
from modegan.errors import ModeganError, choice_error
from modegan.presets import PRESETS, get_preset
from modegan.report.html import build_report

MOG_DATASETS = ("ring8", "grid25", "grid25-random", "cube27")
DEFAULT_STEPS = 2_000  # chosen so the whole default suite stays practical on a 2-core CPU; recorded with results
DEFAULT_SEEDS = 10  # benchmarks.md §2


def setting_text(steps: int, seeds: list[int], overrides: dict) -> str:
    extra = f"; overrides for every run: {overrides}" if overrides else ""
    return (f"{steps} generator steps, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), shared networks of "
            f"benchmarks.md §3 (G 3x128 ReLU, D 2x128 ReLU, z 2, batch 256), per-method optimisers from the "
            f"presets{extra}.")


@dataclass
class MogPlan:
    out: Path
    specs: list[RunSpec]
    steps: int
    seeds: list[int]
    overrides: dict


def plan_mog(out: str | Path, *, methods: list[str] | None = None, datasets: list[str] | None = None,
             seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, eval_every: int | None = None,
             overrides: dict | None = None) -> MogPlan:
    """Resolve and check every run's config; bad names or values fail here, before anything trains."""
    methods = list(methods or PRESETS)
    datasets = list(datasets or MOG_DATASETS)
    for m in methods:
        get_preset(m)
    for d in datasets:
        if d not in DATASETS and not Path(d).is_file():
            raise choice_error("dataset", d, DATASETS)
    if seeds < 1:
        raise ModeganError(f"--seeds must be at least 1, got {seeds}")
    if steps < 1:
        raise ModeganError(f"--steps must be positive, got {steps}")
    seed_list = list(range(seeds))
    every = eval_every or max(1, steps // 8)
    ov = merge(overrides or {}, {"train": {"steps": steps, "eval_every": every, "plots": True}})
    return MogPlan(Path(out), plan(Path(out), methods, datasets, seed_list, ov), steps, seed_list, overrides or {})


def run_planned(p: MogPlan, *, workers: int = 2, batch: bool = True, ray: str | None = None,
                on_done: Callable[[list[RunSpec], list[dict]], None] | None = None) -> list[Row]:
    """Train every pending run of the plan, then write results.csv, results.md and report.html."""
    with exclusive(p.out):
        (p.out / "bench.yaml").write_text(yaml.safe_dump(
            {"benchmark": "mog", "runs": len(p.specs), "seeds": p.seeds, "steps": p.steps, "overrides": p.overrides,
             "methods": list(dict.fromkeys(s.method for s in p.specs)),
             "datasets": list(dict.fromkeys(s.dataset for s in p.specs))}, sort_keys=False))
        execute(p.specs, workers=workers, batch=batch, ray=ray, on_done=on_done)
        rows = [read_row(s.path, method=s.method) for s in p.specs]
        write_outputs(p.out, rows, "Mixture-of-Gaussians benchmark", setting_text(p.steps, p.seeds, p.overrides))
    return rows


def run_mog(out: str | Path, *, workers: int = 2, batch: bool = True, ray: str | None = None,
            on_done: Callable[[list[RunSpec], list[dict]], None] | None = None, **plan_kw) -> list[Row]:
    """`plan_mog` then `run_planned`: the Python form of `modegan bench mog`."""
    return run_planned(plan_mog(out, **plan_kw), workers=workers, batch=batch, ray=ray, on_done=on_done)


def write_outputs(out: Path, rows: list[Row], title: str, setting: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "results.csv", rows)
    (out / "results.md").write_text(markdown(rows, title, setting))
    build_report(rows, out / "report.html", title, setting)


def compare(paths: list[str | Path], out: str | Path, title: str = "Comparison") -> list[Row]:
    """The bench outputs for any existing runs: results.csv, results.md and report.html in `out`."""
    rows = collect([Path(p) for p in paths])
    steps = sorted({r.steps for r in rows})
    setting = f"{len(rows)} runs from {', '.join(map(str, paths))}; generator steps: {', '.join(map(str, steps))}."
    write_outputs(Path(out), rows, title, setting)
    return rows
