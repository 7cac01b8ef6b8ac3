"""`make demo`: a short comparison of the presets on one toy dataset."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from modegan.config import build_config
from modegan.data import load_dataset
from modegan.report.plots import panels_png
from modegan.train import load, train
from modegan.train.run import config_hash
from modegan.train.rundir import RunDir

DEMO_PRESETS = ("gan", "wgan", "wgan-gp-toy", "iwgan", "diwgan", "unrolled", "veegan", "pacgan2")


def _train_one(job: tuple) -> dict:
    """Train (or reuse a finished run of) one preset; runs in a worker process."""
    name, out, data, steps, seed, progress = job
    cfg = build_config(preset=name, overrides={
        "data": {"name": data},
        "train": {"steps": steps, "seed": seed, "eval_every": max(1, steps // 10)},
    })
    run = RunDir(out / name)
    summary = run.read_summary()
    same = summary is not None and summary.get("config_hash") == config_hash(cfg)
    if same and summary["status"] == "finished":
        pass  # already trained with exactly this config
    elif same and run.checkpoint.exists():
        summary = train(resume=run.path, progress=progress)
    else:
        summary = train(cfg, out=run.path, overwrite=True, progress=progress)
    return {"preset": name, "metrics": summary["metrics"], "protocol": summary["protocol"],
            "elapsed_s": summary["elapsed_s"], "run": str(run.path)}


def run_demo(out: str | Path, *, data: str, steps: int, presets: list[str], seed: int = 0,
             progress: bool = False, workers: int = 1, on_done=None) -> list[dict]:
    """Train each preset (in `workers` processes, one torch thread each), then write comparison.png
    and results.md. Finished runs with the same config are reused; unfinished ones are resumed."""
    out = Path(out)
    jobs = [(name, out, data, steps, seed, progress and workers == 1) for name in presets]
    if workers == 1:
        rows = []
        for job in jobs:
            rows.append(_train_one(job))
            if on_done:
                on_done(rows[-1])
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = []
            for row in pool.map(_train_one, jobs):
                rows.append(row)
                if on_done:
                    on_done(row)

    dataset = load_dataset(data, n_train=1000)
    real = dataset.sample_real(2500, torch.Generator().manual_seed(1))
    means = dataset.mixture.means if dataset.mixture is not None else None
    panels = [(r["preset"], load(r["run"]).sample(2500, torch.Generator().manual_seed(0)), real, means)
              for r in rows]
    panels_png(out / "comparison.png", panels)
    (out / "results.md").write_text(_markdown(rows, data, steps, seed))
    return rows


def _markdown(rows: list[dict], data: str, steps: int, seed: int) -> str:
    keys = ["modes", "hqs", "rkl_modes", "jsd_grid", "w1"]
    lines = [f"# Demo: {data}, {steps} generator steps, seed {seed}", "",
             "| preset | " + " | ".join(keys) + " | time (s) |", "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        vals = [f"{r['metrics'][k]:.4g}" if k in r["metrics"] else "-" for k in keys]
        lines.append(f"| {r['preset']} | " + " | ".join(vals) + f" | {r['elapsed_s']:.0f} |")
    if rows and rows[0]["protocol"]:
        lines += ["", "Protocol:", ""]
        lines += [f"- `{k}`: {v}" for k, v in rows[0]["protocol"].items()]
    return "\n".join(lines) + "\n"
