"""Collect run directories into benchmark rows, cells and the results.csv / results.md tables.

Rows come from what runs wrote (config.yaml, summary.json, metrics.jsonl), so the same tables can be
built from a benchmark's runs or from any runs a user points `compare` at.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from modegan.bench.calibration import (
    NO_MIXTURE_NOTE,
    NOISE_FLAG,
    TRUE_MIXTURE,
    EvalProtocol,
    calibration_for,
    eval_protocol,
    noise_flags,
)
from modegan.bench.published import SETTINGS_NOTE, published_for
from modegan.bench.stats import Cell, cell
from modegan.errors import ModeganError
from modegan.train.rundir import RunDir

METRICS = ("modes", "hqs", "jsd_grid", "rkl_modes", "w1", "tv_grid")  # mixtures: the paper's three first, then ours
IMAGE_METRICS = ("modes", "kl", "digit_kl", "digit_coverage", "fd", "kid", "precision", "recall", "density",
                 "coverage")
KNOWN = tuple(dict.fromkeys(METRICS + IMAGE_METRICS))
TRAINING_KEYS = ("d_loss", "g_loss", "grad_norm_d", "grad_norm_g")  # metrics.jsonl: means since the last evaluation


def metric_names(rows: list[Row]) -> tuple[str, ...]:
    """The metrics these runs report, in the benchmarks' order (then any others, sorted)."""
    seen = {k for r in rows for k in r.metrics} | {k for r in rows for _, m in r.curve for k in m}
    return tuple(k for k in KNOWN if k in seen) + tuple(sorted(seen - set(KNOWN)))


@dataclass
class Row:
    dataset: str
    method: str
    seed: int
    status: str
    step: int
    steps: int
    config_hash: str
    setting_hash: str  # the config without its seed: runs that differ only by seed share it
    metrics: dict
    protocol: dict
    elapsed_s: float | None
    error: str | None
    path: Path
    curve: list[tuple[int, dict]] = field(default_factory=list)  # (step, metrics) at each evaluation
    image: bool = False  # image data: the report shows image grids instead of scatter plots
    critic_grads: list[tuple[int, dict]] = field(default_factory=list)  # (step, ‖∇ₓD‖ stats) at each evaluation
    evaluation: EvalProtocol | None = None  # toy runs: what their calibration rows are computed with
    training: list[tuple[int, dict]] = field(default_factory=list)  # (step, losses and grad norms) per evaluation

    def csv(self, metrics: tuple[str, ...]) -> dict:
        return {"dataset": self.dataset, "method": self.method, "seed": self.seed, "status": self.status,
                "step": self.step, "steps": self.steps, "config_hash": self.config_hash,
                "setting_hash": self.setting_hash, **{k: self.metrics.get(k) for k in metrics},
                "elapsed_s": self.elapsed_s, "error": self.error or "", "run_dir": str(self.path)}


CSV_FIELDS = ("dataset", "method", "seed", "status", "step", "steps", "config_hash", "setting_hash")


def find_runs(paths: list[Path]) -> list[Path]:
    """Every run directory (one holding config.yaml) at or below the given paths, sorted."""
    found: set[Path] = set()
    for p in paths:
        if not p.exists():
            raise ModeganError(f"{p} does not exist")
        if (p / "config.yaml").is_file():
            found.add(p)
        found.update(c.parent for c in p.rglob("config.yaml"))
    if not found:
        raise ModeganError(f"no run directories (with a config.yaml) under {', '.join(map(str, paths))}")
    return sorted(found)


def read_row(path: Path, method: str | None = None, dataset: str | None = None, at: int | None = None) -> Row:
    """One run's row; with `at`, as it stood at that step's evaluation (metrics, seconds, curves up to it), or
    unfinished if it has no evaluation there."""
    from modegan.train.run import config_hash, setting_hash

    run = RunDir(path)
    cfg = run.read_config()
    summary = _checked_summary(run)
    setting = setting_hash(cfg)
    records = run.read_metrics()
    if at is not None:
        summary, records = _summary_at(summary, records, at)
    status = summary.get("status", "unknown")
    curve = [(r["step"], r.get("metrics", {})) for r in records]
    grads = [(r["step"], r["d_input_grad"]) for r in records if isinstance(r.get("d_input_grad"), dict)]
    training = [(r["step"], {k: r[k] for k in TRAINING_KEYS if _number(r.get(k))}) for r in records]
    if status not in ("finished", "diverged", "failed"):
        status = "unfinished" if status in ("running", "interrupted", "not started") else status
    return Row(
        dataset=dataset or cfg.data.name, method=method or cfg.preset or "custom", seed=cfg.train.seed, status=status,
        step=int(summary.get("step", 0)), steps=cfg.train.steps, config_hash=config_hash(cfg), setting_hash=setting,
        metrics=summary.get("metrics", {}) if status == "finished" else {}, protocol=summary.get("protocol", {}),
        elapsed_s=summary.get("elapsed_s"), error=summary.get("error"), path=path, curve=curve,
        image=cfg.data.name in ("mnist", "stacked-mnist", "cifar10") or Path(cfg.data.name).is_dir(),
        evaluation=eval_protocol(cfg), critic_grads=grads, training=training,
    )


def _summary_at(summary: dict, records: list[dict], at: int) -> tuple[dict, list[dict]]:
    """(summary, metrics records) of a run as they stood at step `at`: that evaluation's metrics and seconds,
    status finished; a run without an evaluation at `at` is unfinished there, saying how far it got."""
    kept = [r for r in records if r.get("step", 0) <= at]
    rec = next((r for r in kept if r.get("step") == at), None)
    if rec is None:
        last = max((r.get("step", 0) for r in records), default=0)
        reached = max((r.get("step", 0) for r in kept), default=0)
        return ({"status": "unfinished", "step": reached, "protocol": summary.get("protocol", {}),
                 "error": f"no evaluation at step {at:,} (evaluated up to {last:,})"}, kept)
    return ({"status": "finished", "step": at, "metrics": rec.get("metrics", {}),
             "protocol": rec.get("protocol", summary.get("protocol", {})), "elapsed_s": rec.get("elapsed_s")}, kept)


# what differs between runs compared at one step without making them different settings there
AT_STEP_KEYS = ("train.steps", "train.eval_every", "train.plots")


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def failed_row(spec, error: str) -> Row:
    """The row of a planned run (`runs.RunSpec`) whose directory holds nothing readable."""
    from modegan.train.run import config_hash, setting_hash

    cfg = spec.cfg
    return Row(dataset=spec.dataset, method=spec.method, seed=spec.seed, status="failed", step=0,
               steps=cfg.train.steps, config_hash=config_hash(cfg), setting_hash=setting_hash(cfg), metrics={},
               protocol={}, elapsed_s=None, error=error, path=spec.path, evaluation=eval_protocol(cfg))


SUMMARY_TYPES = {"status": (str,), "step": (int,), "metrics": (dict,), "protocol": (dict,),
                 "elapsed_s": (int, float, type(None)), "error": (str, type(None))}


def _checked_summary(run: RunDir) -> dict:
    """summary.json with the fields a row reads checked: a wrong type is one error naming the file and key."""
    summary = run.read_summary() or {"status": "not started"}
    for key, types in SUMMARY_TYPES.items():
        v = summary.get(key)
        if key in summary and (isinstance(v, bool) or not isinstance(v, types)):
            raise ModeganError(f"{run.summary}: {key!r} has the wrong type ({type(v).__name__})")
    for k, v in summary.get("metrics", {}).items():
        if isinstance(v, bool) or not isinstance(v, (int, float, type(None))):
            raise ModeganError(f"{run.summary}: metric {k!r} is not a number ({type(v).__name__})")
    return summary


def collect(paths: list[Path], at: int | None = None) -> list[Row]:
    """Rows for every run found; with `at`, each as it stood at that step (`read_row`), so runs of different
    budgets compare at a step they all reached. A preset run under several settings is labelled by the keys
    its settings differ in, preset[key=value, ...] (preset alone for the setting at the preset's defaults);
    with `at`, train.steps and the evaluation cadence do not make a setting."""
    found = find_runs(paths)
    rows = [read_row(p, at=at) for p in found]
    if at is not None:
        for r in rows:
            r.setting_hash = _at_step_hash(r.path)
    groups: dict[tuple[str, str], dict[str, Row]] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.method), {}).setdefault(r.setting_hash, r)
    labels = {}
    for (_, method), by_setting in groups.items():
        if len(by_setting) > 1:
            labels.update(_setting_labels(method, by_setting, ignore=AT_STEP_KEYS if at is not None else ()))
    for r in rows:
        key = (r.dataset, r.method)
        if len(groups[key]) > 1:
            r.method = labels[(r.dataset, r.method, r.setting_hash)]
    return sorted(rows, key=lambda r: (r.dataset, r.method, r.seed))


def _flat_setting(path: Path, ignore: tuple[str, ...]) -> dict:
    from modegan.config import flatten

    d = flatten(RunDir(path).read_config().to_dict())
    for k in ("train.seed", *ignore):
        d.pop(k, None)
    return d


def _at_step_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(_flat_setting(path, AT_STEP_KEYS), sort_keys=True, default=str)
                          .encode()).hexdigest()[:12]


def _setting_labels(method: str, by_setting: dict[str, Row], ignore: tuple[str, ...]) -> dict:
    """(dataset, method, setting hash) -> a label naming the keys in which this setting differs from the others
    (the preset's own values are left out, so the setting at the preset's defaults keeps the bare name)."""
    from modegan.config import build_config, flatten

    flats = {h: _flat_setting(r.path, ignore) for h, r in by_setting.items()}
    try:
        preset = flatten(build_config(preset=method).to_dict())
    except ModeganError:  # not a preset name (custom runs): no defaults to leave out
        preset = {}
    varying = sorted(k for k in set().union(*flats.values())
                     if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats.values()}) > 1)
    out = {}
    for h, f in flats.items():
        r = by_setting[h]
        keys = [k for k in varying if k not in preset or f.get(k) != preset.get(k)]
        parts = [f"{k}={f.get(k)}" for k in keys]
        out[(r.dataset, method, h)] = f"{method}[{', '.join(parts)}]" if parts else method
    if len(set(out.values())) < len(out):  # two settings named alike (e.g. differing only in data paths)
        out = {k: f"{method}@{k[2][:6]}" for k in out}
    return out


def cells(rows: list[Row], metrics: tuple[str, ...] | None = None) -> dict[str, dict[str, dict[str, Cell]]]:
    """dataset -> method -> metric -> Cell over that method's seeds (failed runs count in n_runs)."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.dataset, r.method), []).append(r)
    metrics = metrics or metric_names(rows)
    out: dict[str, dict[str, dict[str, Cell]]] = {}
    for (d, m), rs in groups.items():
        out.setdefault(d, {})[m] = {k: cell([r.metrics.get(k) for r in rs], len(rs)) for k in metrics}
        out[d][m]["elapsed_s"] = cell([r.elapsed_s for r in rs if r.status == "finished"], len(rs))
    return out


def references(rows: list[Row]) -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """(dataset -> calibration rows, dataset -> note): the rows are scored with the evaluation protocol of
    the dataset's first toy run; the note says why a dataset has fewer rows or none."""
    refs: dict[str, dict[str, dict]] = {}
    notes: dict[str, str] = {}
    for d, protocols in _protocols(rows).items():
        try:
            refs[d] = calibration_for(protocols[0])
        except ModeganError as e:  # e.g. compare on runs whose data file has moved
            notes[d] = f"no calibration rows: {e}"
            continue
        said = [NO_MIXTURE_NOTE] if TRUE_MIXTURE not in refs[d] else []
        if len(protocols) > 1:
            said.append("the runs differ in their evaluation protocol; the calibration rows use the first run's")
        if said:
            notes[d] = "; ".join(said)
    return refs, notes


def _protocols(rows: list[Row]) -> dict[str, list[EvalProtocol]]:
    out: dict[str, list[EvalProtocol]] = {}
    for r in rows:
        if r.evaluation is not None and r.evaluation not in out.setdefault(r.dataset, []):
            out[r.dataset].append(r.evaluation)
    return {d: ps for d, ps in out.items() if ps}


def flags(table: dict[str, dict[str, dict[str, Cell]]], refs: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """dataset -> method -> the metrics whose cell mean is no better than the uniform box (`≈ noise`)."""
    return {d: {m: noise_flags({k: c.mean if c.values else None for k, c in cs.items() if k != "elapsed_s"},
                               refs.get(d, {})) for m, cs in ms.items()} for d, ms in table.items()}


def flagged(c: Cell, metric: str, method_flags: tuple[str, ...]) -> str:
    """A cell's text, with the noise flag when its mean is no better than the uniform box's."""
    return c.format() + (f" {NOISE_FLAG}" if metric in method_flags else "")


def reference_value(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}"


def write_csv(path: Path, rows: list[Row]) -> None:
    """A row per run (its method's noise flags in `noise_flags`), then the calibration rows (seed empty)."""
    metrics = metric_names(rows)
    refs, _ = references(rows)
    fl = flags(cells(rows, metrics), refs)
    fields = (*CSV_FIELDS, *metrics, "elapsed_s", "error", "run_dir", "noise_flags")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        for r in rows:
            w.writerow({**r.csv(metrics), "noise_flags": ";".join(fl[r.dataset][r.method])})
        for d, by_label in refs.items():
            for label, values in by_label.items():
                w.writerow({"dataset": d, "method": label, "status": "reference",
                            **{k: values.get(k) for k in metrics}})


def protocol_lines(rows: list[Row]) -> list[str]:
    """The metric protocols as recorded by the runs (identical across a benchmark's runs)."""
    for r in rows:
        if r.protocol:
            return [f"`{k}`: " + ", ".join(f"{pk}={pv}" for pk, pv in v.items() if not isinstance(pv, (list, dict)))
                    for k, v in r.protocol.items()]
    return []


def failures(rows: list[Row]) -> list[Row]:
    return [r for r in rows if r.status != "finished"]


CALIBRATION_NOTE = (
    f"Calibration rows, scored with the runs' own evaluation protocol: `{TRUE_MIXTURE}` (fresh draws from the "
    "data's mixture: the best a sampler scores here) and `reference: uniform box` (uniform over the means' range "
    f"widened by 3 sigma_max: what no learning scores). `{NOISE_FLAG}`: the cell's mean is no better than the "
    "uniform box's (modes, hqs: higher is better; jsd_grid, tv_grid, rkl_modes, w1: lower is better); such a cell "
    "is not ranked.")


def markdown(rows: list[Row], title: str, setting: str = "") -> str:
    """Per dataset: our mean (std) over seeds, then the published numbers, each labelled with its source."""
    metrics = metric_names(rows)
    table = cells(rows, metrics)
    refs, notes = references(rows)
    fl = flags(table, refs)
    lines = [f"# {title}", ""]
    if setting:
        lines += [setting, ""]
    lines += ["Cells: mean (std) over seeds; runs: finished of all the runs (seeds) of the row; [n/N] when only "
              "n of N runs gave a value (failed runs, or rkl_modes undefined with no high-quality sample). "
              "Per-seed values: results.csv.", "",
              CALIBRATION_NOTE, ""]
    for d in table:
        lines += [f"## {d}", "", "| method | runs | " + " | ".join(metrics) + " | s/run |",
                  "|---" * (len(metrics) + 3) + "|"]
        for label, values in refs.get(d, {}).items():
            lines.append(f"| {label} | - | " + " | ".join(reference_value(values.get(k)) for k in metrics) + " | - |")
        for m, cs in table[d].items():
            t = cs["elapsed_s"]
            secs = f"{t.mean:.0f}" if t.values else "-"
            n_ok = sum(1 for r in rows if r.dataset == d and r.method == m and r.status == "finished")
            lines.append(f"| {m} | {n_ok}/{t.n_runs} | " + " | ".join(flagged(cs[k], k, fl[d][m]) for k in metrics)
                         + f" | {secs} |")
        if d in notes:
            lines += ["", f"Note: {notes[d]}."]
        pub = published_for(d)
        if pub:
            shown = [k for k in KNOWN if any(k in p.values for p in pub)]
            lines += ["", f"Published elsewhere, under different settings (not comparable cell by cell) for {d}:", "",
                      "| source | method (ours) | " + " | ".join(shown) + " |", "|---" * (len(shown) + 2) + "|"]
            for p in pub:
                vals = [p.values.get(k, "") for k in shown]
                lines.append(f"| {p.source} | {p.method} ({p.preset or 'no preset'}) | " + " | ".join(vals) + " |")
        lines.append("")
    bad = failures(rows)
    if bad:
        lines += ["## Runs that did not finish", ""]
        lines += [f"- {r.dataset} / {r.method} / seed {r.seed}: {r.status}"
                  + (f": {r.error}" if r.error else "") for r in bad]
        lines.append("")
    lines += ["## Protocol", ""] + [f"- {p}" for p in protocol_lines(rows)]
    sources = {p.source for r in rows for p in published_for(r.dataset)}
    lines += ["", "## Published sources", ""] + [f"- {s}: {n}" for s, n in SETTINGS_NOTE.items() if s in sources]
    return "\n".join(lines) + "\n"
