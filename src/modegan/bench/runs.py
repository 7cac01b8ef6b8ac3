"""Plan and execute the runs of a benchmark: methods x datasets x seeds, resumable, failures recorded.

Every run is an ordinary run directory (`OUT/runs/<dataset>/<method>/seed<k>`), so `modegan eval`,
`modegan.load` and `compare` work on it. Running a benchmark again skips finished (and diverged:
deterministic) runs, resumes interrupted ones from their checkpoints (and finished ones, when the budget
has grown) and restarts those that never checkpointed. Runs of another setting in its directories are
refused, not overwritten. Seeds of one setting train as one batch of stacked models where the method allows it.
"""

from __future__ import annotations

import copy
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from modegan.config import RunConfig, build_config, flatten, merge
from modegan.errors import ModeganError
from modegan.malloc import tune_malloc
from modegan.train.batched import batch_unsupported, train_seeds
from modegan.train.files import atomic_write, pid_lock
from modegan.train.rundir import RunDir


@dataclass(frozen=True)
class RunSpec:
    method: str
    dataset: str
    seed: int
    cfg: RunConfig
    path: Path

    def job_item(self) -> tuple[dict, str]:
        return self.cfg.to_dict(), str(self.path)


def plan(out: Path, methods: list[str], groups: dict[str, dict | Callable[[str], dict]], seeds: list[int],
         overrides: dict) -> list[RunSpec]:
    """One spec per (group, method, seed). A group is a dataset, or a dataset in one setting, with its own
    overrides (a dict, or a function of the method); `overrides` (steps, eval cadence, user key=value)
    apply to every run and take precedence.

    Bad names or values fail here, before anything trains.
    """
    specs = []
    for label, group in groups.items():
        for m in methods:
            group_ov = group(m) if callable(group) else group
            for s in seeds:
                cfg = build_config(preset=m, overrides=merge(merge(group_ov, overrides), {"train": {"seed": s}}))
                specs.append(RunSpec(m, label, s, cfg, out / "runs" / label / m / f"seed{s}"))
    return specs


def state(spec: RunSpec) -> str:
    """'done' (finished or diverged with this exact config), 'resume' (a checkpoint of it, or of it at a
    smaller train.steps: the run goes on to the new budget, as `train --resume DIR --steps N` does), 'new',
    or 'other': a run of another config, or of this one past this budget, which `check_existing` refuses."""
    run = RunDir(spec.path)
    try:
        summary = run.read_summary() or {}
        old = run.read_config() if run.config.is_file() else None
        if old is None or run.never_checkpointed():
            return "new"  # nothing that a restart loses
    except (ModeganError, ValueError, OSError):
        return "new"  # unreadable leftovers: start again
    status, at, steps = summary.get("status"), int(summary.get("step", 0)), spec.cfg.train.steps
    if _hash_without_steps(old) != _hash_without_steps(spec.cfg) or at > steps:
        return "other"
    if status == "diverged" or (status == "finished" and at == steps):  # a diverged run diverges again
        return "done"
    return "resume" if run.checkpoint.exists() else "new"


def _hash_without_steps(cfg: RunConfig) -> str:
    from modegan.train.run import config_hash

    stepless = copy.deepcopy(cfg)
    stepless.train.steps = 0
    return config_hash(stepless)


def check_existing(specs: list[RunSpec]) -> None:
    """Refuse, before anything trains, a plan whose run directories hold runs of another setting: training
    there would delete them. Runs of the same setting at a smaller budget are extended (`state`)."""
    other = [s for s in specs if state(s) == "other"]
    if not other:
        return
    s = other[0]
    old = RunDir(s.path).read_config()
    at = int((RunDir(s.path).read_summary() or {}).get("step", 0))
    if _hash_without_steps(old) == _hash_without_steps(s.cfg):
        what = (f"it trained {at} steps, more than this plan's {s.cfg.train.steps}; `modegan compare --at "
                f"{s.cfg.train.steps}` reads it at that step")
    else:
        changed = _changed_keys(old, s.cfg)
        what = f"{', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''} differ"
    more = f" (and {len(other) - 1} more run(s))" if len(other) > 1 else ""
    raise ModeganError(f"{s.path} holds a run of another setting ({what}){more}; nothing was trained or "
                       "deleted: choose another --out, or remove those runs")


def _changed_keys(a: RunConfig, b: RunConfig) -> list[str]:
    """The dotted config keys whose values differ, leaving out where files live and what logs where."""
    from modegan.train.run import LOCATION_KEYS, TRACKING_KEYS

    fa, fb = flatten(a.to_dict()), flatten(b.to_dict())
    skip = {f"{s}.{k}" for s, k in LOCATION_KEYS + TRACKING_KEYS}
    return sorted(k for k in set(fa) | set(fb) if k not in skip and fa.get(k) != fb.get(k))


def jobs(specs: list[RunSpec], batch: bool) -> list[list[RunSpec]]:
    """Group the pending seeds of one setting into one job when batching, else one job a run.

    Groups that cannot batch are split here, so they spread over the workers; they go seed by seed.
    """
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for s in specs:
        if state(s) != "done":
            groups.setdefault((s.dataset, s.method), []).append(s)
    batched, single = [], []
    for group in groups.values():
        if batch and len(group) > 1 and batch_unsupported(group[0].cfg) is None:
            batched.append(group)
        else:
            single.extend([s] for s in group)
    # seed-major: a benchmark stopped part-way has every cell at its first few seeds, not some cells at all
    single.sort(key=lambda job: job[0].seed)
    return batched + single


def run_job(items: list[tuple[dict, str]], batch: bool) -> list[dict]:
    """Train one job in this process; returns {path, status, error} per run and never raises for a run.

    Takes plain dicts so it can cross process and Ray boundaries.
    """
    from modegan.config import config_from_any

    tune_malloc()  # a pool or Ray worker is this benchmark's own process

    specs = [RunSpec("", "", 0, config_from_any(c), Path(p)) for c, p in items]
    done = [s for s in specs if state(s) == "done"]  # e.g. finished since the job was planned
    specs = [s for s in specs if s not in done]
    return [_done_outcome(s) for s in done] + _train_specs(specs, batch)


def _done_outcome(spec: RunSpec) -> dict:
    try:
        return _outcome(spec.path, RunDir(spec.path).read_summary() or {})
    except ModeganError as e:  # changed since `state` read it
        return {"path": str(spec.path), "status": "failed", "error": str(e)}


def _train_specs(specs: list[RunSpec], batch: bool) -> list[dict]:
    from modegan.train import train

    if batch and len(specs) > 1:
        try:
            for s in specs:
                if state(s) == "new":
                    RunDir(s.path).clear()  # unreadable leftovers, or a run that never checkpointed
            summaries = train_seeds([s.cfg for s in specs], [s.path for s in specs])
            return [_outcome(s.path, summ) for s, summ in zip(specs, summaries, strict=True)]
        except Exception as e:  # noqa: BLE001 - the seeds are retried one by one below, each failure recorded
            warnings.warn(f"batched training failed ({type(e).__name__}: {e}); training the seeds one by one",
                          stacklevel=1)
    results = []
    for s in specs:
        try:
            RunDir(s.path).error.unlink(missing_ok=True)
            if state(s) == "resume":  # on the benchmark's --device if it names one, else where it trained
                summary = train(resume=s.path, steps=s.cfg.train.steps,
                                device=None if s.cfg.train.device == "auto" else s.cfg.train.device)
            else:
                summary = train(s.cfg, out=s.path, overwrite=True)
            results.append(_outcome(s.path, summary))
        except Exception as e:  # noqa: BLE001 - a failed run is reported, and does not stop the others
            results.append(_record_failure(s, e))
    return results


def _outcome(path: Path, summary: dict) -> dict:
    return {"path": str(path), "status": summary.get("status", "failed"), "error": summary.get("error")}


def _record_failure(spec: RunSpec, e: Exception) -> dict:
    """Write the error into the run's summary (keeping a diverged run's own summary). Never raises: where the
    summary cannot be written (a full disk), the failure is still returned, so the benchmark goes on."""
    from modegan.train.run import config_hash

    run = RunDir(spec.path)
    msg = str(e) if isinstance(e, ModeganError) else f"{type(e).__name__}: {e}"
    try:
        summary = run.read_summary() or {}
    except ModeganError:
        summary = {}  # unreadable: replaced by the failure below
    if summary.get("status") == "diverged":
        return {"path": str(spec.path), "status": "diverged", "error": summary.get("error")}
    detail = "" if isinstance(e, ModeganError) else traceback.format_exc()
    summary = {**summary, "status": "failed", "error": msg, "config_hash": config_hash(spec.cfg),
               "preset": spec.cfg.preset, "step": summary.get("step", 0)}
    try:
        run.path.mkdir(parents=True, exist_ok=True)
        if not run.config.exists():
            run.write_config(spec.cfg)
        if detail:
            atomic_write(run.error, detail.encode())
        run.write_summary(summary)
    except (ModeganError, OSError) as write_failed:
        summary["error"] = f"{msg} (and the failure could not be recorded in the run: {write_failed})"
    return {"path": str(spec.path), "status": "failed", "error": summary["error"]}


def execute(specs: list[RunSpec], *, workers: int = 2, batch: bool = True, ray: str | None = None,
            on_done: Callable[[list[RunSpec], list[dict]], None] | None = None) -> None:
    """Train every pending run: `workers` local processes (one torch thread each), or a Ray cluster. The
    caller has refused runs of another setting (`check_existing`, in `suite.run_planned`)."""
    todo = jobs(specs, batch)
    if not todo:
        return
    payload = [([s.job_item() for s in job], batch) for job in todo]
    if ray is not None:
        from modegan.bench.ray_backend import run_on_ray

        run_on_ray(ray, payload, lambda i, res: on_done and on_done(todo[i], res))
        return
    if workers <= 1:
        for job, (items, b) in zip(todo, payload, strict=True):
            res = run_job(items, b)
            if on_done:
                on_done(job, res)
        return
    import multiprocessing

    # Pool.__exit__ terminates the workers: after Ctrl-C no queued job starts, and runs cut short keep
    # their last checkpoint for the next invocation.
    with multiprocessing.Pool(workers) as pool:
        for i, results in pool.imap_unordered(_indexed_job, list(enumerate(payload))):
            if on_done:
                on_done(todo[i], results)


def _indexed_job(job: tuple[int, tuple[list, bool]]) -> tuple[int, list[dict]]:
    i, (items, batch) = job
    return i, run_job(items, batch)


def exclusive(out: Path):
    """One benchmark at a time in `out`: two would train the same run directories at once."""
    return pid_lock(out / ".bench.lock", lambda pid: f"another benchmark is running in {out} (PID {pid}); wait for "
                    "it, or choose another --out")
