"""`modegan bench budget`: every method's metrics against its training budget, to choose the budget of the
published tables (a number is published only from a budget where the method has learned).

The runs are an ordinary `bench mog` plan (run directories, resume by rerunning, bench.yaml, results.csv,
results.md, report.html at the final step) with frequent evaluations; from their metrics.jsonl it writes
budget.csv (one row per evaluation), budget.md (the plateau table) and budget.html (modes, HQS, JSD and W1
against steps and wall seconds, with the calibration lines of `bench.calibration`).

Plateau, per method: the first evaluation after which HQS stays within 5 points of its final value (on the
mean over seeds, and the latest such step of any seed), and whether it keeps its modes: the most modes it
covered at any evaluation against the modes it ends with. With seeds trained as a batch, a run's elapsed_s
is the wall time of the whole batch.
"""

from __future__ import annotations

import csv
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from modegan.bench.mog import plan_mog
from modegan.bench.results import Row, metric_names, references
from modegan.bench.runs import RunSpec
from modegan.bench.stats import cell
from modegan.bench.suite import BenchPlan, run_planned
from modegan.errors import ModeganError
from modegan.train.rundir import RunDir

BUDGET_PRESETS = ("gan", "wgan-gp-toy", "iwgan", "diwgan", "unrolled", "veegan", "pacgan2")
BUDGET_DATASETS = ("ring8", "grid25")
DEFAULT_STEPS = 50_000
DEFAULT_EVAL_EVERY = 2_000
DEFAULT_SEEDS = 3
CURVE_METRICS = ("modes", "hqs", "jsd_grid", "w1")
HQS_BAND = 5.0  # HQS points: "stays within 5 points of its final value"


@dataclass(frozen=True)
class Evaluation:
    """One line of a run's metrics.jsonl: one row of budget.csv."""

    dataset: str
    method: str
    seed: int
    step: int
    elapsed_s: float | None
    metrics: dict


@dataclass(frozen=True)
class Plateau:
    """One line of the plateau table: when HQS settles, and whether the modes covered are kept."""

    dataset: str
    method: str
    seeds: int
    last_step: int
    hqs_plateau: int | None  # on the mean curve over seeds
    hqs_plateau_latest: int | None  # the latest plateau step of any seed
    final_hqs: float
    max_modes: float  # mean over seeds of each seed's most modes at any evaluation
    final_modes: float
    seeds_losing_modes: int  # seeds whose final modes are fewer than their most


def plan_budget(out: str | Path, *, methods: list[str] | None = None, datasets: list[str] | None = None,
                seeds: int = DEFAULT_SEEDS, steps: int = DEFAULT_STEPS, eval_every: int = DEFAULT_EVAL_EVERY,
                overrides: dict | None = None, device: str | None = None, first_seed: int = 0) -> BenchPlan:
    """`plan_mog` with the study's defaults and outputs; every name and number is checked here."""
    if isinstance(eval_every, int) and isinstance(steps, int) and 0 < steps < eval_every:
        raise ModeganError(f"--eval-every ({eval_every}) must be at most --steps ({steps}): a budget study needs "
                           "evaluations along the way")
    p = plan_mog(out, methods=list(BUDGET_PRESETS if methods is None else methods),
                 datasets=list(BUDGET_DATASETS if datasets is None else datasets), seeds=seeds, steps=steps,
                 eval_every=eval_every, overrides=overrides, device=device, first_seed=first_seed)
    setting = f"{p.setting} Evaluated every {eval_every} steps."
    return replace(p, name="budget", title="Budget study", setting=setting,
                   more_outputs=functools.partial(write_budget, setting=setting),
                   outputs="budget.csv, budget.md, budget.html, results.md, results.csv, report.html")


def run_budget(out: str | Path, *, workers: int = 2, batch: bool = True, ray: str | None = None,
               on_done: Callable[[list[RunSpec], list[dict]], None] | None = None, **plan_kw) -> list[Row]:
    """`plan_budget` then `run_planned`: the Python form of `modegan bench budget`."""
    return run_planned(plan_budget(out, **plan_kw), workers=workers, batch=batch, ray=ray, on_done=on_done)


def evaluations(rows: list[Row]) -> list[Evaluation]:
    """Every evaluation of every run: runs in the rows' order, each run's in step order."""
    out = []
    for r in rows:
        records = RunDir(r.path).read_metrics() if r.path.is_dir() else []
        out += sorted((Evaluation(r.dataset, r.method, r.seed, int(rec["step"]), rec.get("elapsed_s"),
                                  rec.get("metrics", {})) for rec in records), key=lambda e: e.step)
    return out


def write_budget_csv(path: Path, evals: list[Evaluation], metrics: tuple[str, ...]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=("dataset", "method", "seed", "step", "elapsed_s", *metrics))
        w.writeheader()
        for e in evals:
            w.writerow({"dataset": e.dataset, "method": e.method, "seed": e.seed, "step": e.step,
                        "elapsed_s": e.elapsed_s, **{k: e.metrics.get(k) for k in metrics}})


def by_run(evals: list[Evaluation]) -> dict[tuple[str, str], dict[int, list[Evaluation]]]:
    """(dataset, method) -> seed -> that run's evaluations in step order."""
    out: dict[tuple[str, str], dict[int, list[Evaluation]]] = {}
    for e in evals:
        out.setdefault((e.dataset, e.method), {}).setdefault(e.seed, []).append(e)
    return out


def mean_curve(runs: dict[int, list[Evaluation]], key: str) -> list[tuple[int, float, float]]:
    """(step, mean elapsed seconds, mean value) over the seeds that have a value at that step."""
    steps = sorted({e.step for evs in runs.values() for e in evs})
    out = []
    for s in steps:
        at = [e for evs in runs.values() for e in evs if e.step == s]
        value = cell([e.metrics.get(key) for e in at])
        elapsed = cell([e.elapsed_s for e in at])
        if value.values:
            out.append((s, elapsed.mean, value.mean))
    return out


def plateau_step(points: list[tuple[int, float | None]], band: float = HQS_BAND) -> int | None:
    """The first step after which every value stays within `band` of the last one (None without values)."""
    if not points or points[-1][1] is None:
        return None
    final, first = points[-1][1], points[-1][0]
    for step, v in reversed(points):
        if v is None or abs(v - final) > band:
            break
        first = step
    return first


def plateau(dataset: str, method: str, runs: dict[int, list[Evaluation]]) -> Plateau:
    """The plateau line of one method on one dataset from its runs' evaluations."""
    per_seed = [plateau_step([(e.step, e.metrics.get("hqs")) for e in evs]) for evs in runs.values()]
    modes = [[e.metrics.get("modes") for e in evs if e.metrics.get("modes") is not None] for evs in runs.values()]
    modes = [m for m in modes if m]
    mean_hqs = [(s, v) for s, _, v in mean_curve(runs, "hqs")]
    return Plateau(
        dataset, method, len(runs), max(e.step for evs in runs.values() for e in evs), plateau_step(mean_hqs),
        max((s for s in per_seed if s is not None), default=None), mean_hqs[-1][1] if mean_hqs else math.nan,
        cell([max(m) for m in modes]).mean, cell([m[-1] for m in modes]).mean, sum(m[-1] < max(m) for m in modes))


def plateaus(evals: list[Evaluation]) -> list[Plateau]:
    return [plateau(d, m, runs) for (d, m), runs in by_run(evals).items()]


def step_text(step: int | None, last: int) -> str:
    if step is None:
        return "-"
    return f"{step} (last evaluation: not settled)" if step == last and step > 0 else str(step)


def plateau_markdown(items: list[Plateau], refs: dict[str, dict], setting: str) -> str:
    """budget.md: per dataset, the plateau table below the calibration values of HQS and modes."""
    lines = ["# Budget study: plateaus", "", setting, "",
             f"HQS plateau: the first evaluation after which HQS stays within {HQS_BAND:g} points of its final "
             "value, on the mean over seeds and for the latest seed. Modes: the most covered at any evaluation "
             "(mean over seeds of each seed's maximum) against the final modes; seeds losing modes end with fewer "
             "than their maximum; final: at the last evaluation, which is before the study's budget for a method "
             "stopped early. Curves: budget.html; every evaluation: budget.csv.", ""]
    for d in dict.fromkeys(p.dataset for p in items):
        lines += [f"## {d}", ""]
        for label, values in refs.get(d, {}).items():
            lines.append(f"- {label}: hqs {num(values.get('hqs'))}, modes {num(values.get('modes'))}")
        lines += ["", "| method | seeds | last evaluation | HQS plateau (mean) | HQS plateau (latest seed) | "
                  "final HQS | max modes | final modes | seeds losing modes |", "|---" * 9 + "|"]
        for p in (p for p in items if p.dataset == d):
            lines.append(f"| {p.method} | {p.seeds} | {p.last_step} | {step_text(p.hqs_plateau, p.last_step)} | "
                         f"{step_text(p.hqs_plateau_latest, p.last_step)} | {num(p.final_hqs)} | "
                         f"{num(p.max_modes)} | {num(p.final_modes)} | {p.seeds_losing_modes}/{p.seeds} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def num(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.3g}"


def write_budget(out: Path, rows: list[Row], setting: str = "") -> None:
    """budget.csv, budget.md and budget.html from the runs' metrics (the tables are already written)."""
    from modegan.report.budget import budget_page

    evals = evaluations(rows)
    refs, _ = references(rows)
    items = plateaus(evals)
    write_budget_csv(out / "budget.csv", evals, metric_names(rows))
    (out / "budget.md").write_text(plateau_markdown(items, refs, setting))
    (out / "budget.html").write_text(budget_page(by_run(evals), refs, items, setting))
