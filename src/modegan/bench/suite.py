"""What every benchmark shares: a checked plan of runs, its execution, and the three outputs.

`bench mog` and `bench stacked-mnist` only differ in their groups (datasets or settings), defaults and
setting text; `compare` builds the same outputs from any runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from modegan.bench.results import Row, collect, failed_row, markdown, read_row, write_csv
from modegan.bench.runs import RunSpec, check_existing, exclusive, execute, plan
from modegan.config import check_types, flatten, merge
from modegan.device import resolve_device
from modegan.errors import ModeganError
from modegan.limits import MAX_BENCH_SEEDS, MAX_SEED, MAX_STEPS, MAX_WORKERS, check_int, check_out_dir
from modegan.presets import get_preset
from modegan.report.html import build_report
from modegan.train.files import atomic_write, disk_errors


@dataclass
class BenchPlan:
    name: str
    title: str
    setting: str  # one paragraph: budget, seeds, networks; printed above the tables
    out: Path
    specs: list[RunSpec]
    # More outputs from the rows (e.g. the budget study's), written under the benchmark's lock after the tables.
    more_outputs: Callable[[Path, list[Row]], None] | None = None
    outputs: str = "results.md, results.csv, report.html"  # what the command line says was written


# Config keys a benchmark sets itself: an override of one would be silently replaced, so it is an error.
BENCH_KEYS = {"train.steps": "--steps", "train.eval_every": "--eval-every", "train.seed": "--seeds",
              "train.plots": "nothing (a benchmark always plots)", "preset": "--methods", "train.device": "--device"}


def check_workers(workers: int) -> int:
    return check_int(workers, "--workers", 1, MAX_WORKERS)


def check_overrides(overrides: dict | None, reserved: dict[str, str]) -> dict:
    """Type-check a benchmark's overrides and refuse the keys it sets itself (`reserved`: key -> its flag)."""
    overrides = overrides or {}
    check_types(overrides)
    for key in flatten(overrides):
        if key in reserved or key.split(".")[0] in reserved:
            raise ModeganError(f"override {key}: the benchmark sets it; use {reserved.get(key, 'its flag')}")
    return overrides


def make_plan(name: str, title: str, out: str | Path, *, methods: list[str], groups: dict, seeds: int,
              steps: int, eval_every: int | None, overrides: dict | None, setting: str,
              reserved: dict[str, str] | None = None, device: str | None = None,
              first_seed: int = 0) -> BenchPlan:
    """Check names, counts, the output directory and the overrides, then resolve every run's config (which
    checks every value). Nothing is written. Seeds are first_seed..first_seed+seeds-1, so more seeds can be
    added to a finished table in a second directory without training the first ones again. `device`
    (train.device of every run) is where the runs train, not what they are: it is left out of the setting's
    text and hashes, and each summary records it."""
    out = check_out_dir(out)
    if not methods:
        raise ModeganError("no methods given; allowed: the presets (`modegan presets`)")
    for m in methods:
        get_preset(m)
    check_int(seeds, "--seeds", 1, MAX_BENCH_SEEDS)
    check_int(first_seed, "--first-seed", 0, MAX_SEED - seeds + 1)
    check_int(steps, "--steps", 1, MAX_STEPS)
    if eval_every is not None:
        check_int(eval_every, "--eval-every", 1, MAX_STEPS)
    overrides = check_overrides(overrides, {**BENCH_KEYS, **(reserved or {})})
    every = eval_every or max(1, steps // 8)
    ov = merge(overrides, {"train": {"steps": steps, "eval_every": every, "plots": True}})
    extra = f" Overrides for every run: {overrides}." if overrides else ""
    last = first_seed + seeds - 1
    text = f"{steps} generator steps, seeds {first_seed}..{last} ({seeds}); {setting}{extra}"
    if device is not None:
        resolve_device(device, "--device")  # a device this machine lacks fails before anything is written
        ov = merge(ov, {"train": {"device": device}})
    return BenchPlan(name, title, text, out, plan(out, methods, groups, list(range(first_seed, last + 1)), ov))


def run_planned(p: BenchPlan, *, workers: int = 2, batch: bool = True, ray: str | None = None,
                on_done: Callable[[list[RunSpec], list[dict]], None] | None = None) -> list[Row]:
    """Train every pending run of the plan, then write results.csv, results.md and report.html.

    A run that failed so badly that its directory cannot be read back (a full disk) is a failed row with the
    error `execute` reported. The worker count is checked and a Ray cluster connected to before anything is
    written."""
    check_workers(workers)
    outcomes: dict[str, dict] = {}

    def done(job: list[RunSpec], results: list[dict]) -> None:
        outcomes.update({r["path"]: r for r in results})
        if on_done:
            on_done(job, results)

    started_ray = False
    if ray is not None:
        from modegan.bench.ray_backend import connect

        started_ray = connect(ray)
    try:
        with exclusive(p.out):
            check_existing(p.specs)  # before bench.yaml: a refused plan replaces nothing
            atomic_write(p.out / "bench.yaml", yaml.safe_dump(  # a failed write is one line (files.writing)
                {"benchmark": p.name, "runs": len(p.specs), "setting": p.setting,
                 "methods": list(dict.fromkeys(s.method for s in p.specs)),
                 "groups": list(dict.fromkeys(s.dataset for s in p.specs))}, sort_keys=False).encode())
            execute(p.specs, workers=workers, batch=batch, ray=ray, on_done=done)
            rows = [_row(s, outcomes.get(str(s.path))) for s in p.specs]
            write_outputs(p.out, rows, p.title, p.setting)
            if p.more_outputs is not None:
                with disk_errors(p.out):
                    p.more_outputs(p.out, rows)
    finally:
        if started_ray:
            from modegan.bench.ray_backend import shutdown

            shutdown()
    return rows


def _row(spec: RunSpec, outcome: dict | None) -> Row:
    try:
        return read_row(spec.path, method=spec.method, dataset=spec.dataset)
    except ModeganError as e:
        if outcome is None or outcome["status"] != "failed":
            raise
        return failed_row(spec, outcome["error"] or str(e))


def write_outputs(out: Path, rows: list[Row], title: str, setting: str) -> None:
    with disk_errors(out):  # a full disk: one line naming the file
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "results.csv", rows)
        (out / "results.md").write_text(markdown(rows, title, setting))
        build_report(rows, out / "report.html", title, setting)


def compare(paths: list[str | Path], out: str | Path, title: str = "Comparison") -> list[Row]:
    """The bench outputs for any existing runs: results.csv, results.md and report.html in `out`."""
    out = check_out_dir(out)
    rows = collect([Path(p) for p in paths])
    write_comparison(rows, paths, out, title)
    return rows


def write_comparison(rows: list[Row], paths: list[str | Path], out: Path, title: str = "Comparison",
                     at: int | None = None) -> None:
    """`compare`'s outputs for rows already collected (and checked); `at`: the step they were compared at."""
    steps = sorted({r.steps for r in rows})
    budgets = ", ".join(f"{s:,}" for s in steps)
    setting = (f"{len(rows)} runs from {', '.join(map(str, paths))}; " + (
        f"each as it stood at generator step {at:,} (runs trained for {budgets} steps)." if at is not None
        else f"generator steps: {budgets}."))
    write_outputs(Path(out), rows, title, setting)
