"""`make demo`: a short comparison of the presets on one toy dataset."""

from __future__ import annotations

from pathlib import Path

import torch

from modegan.config import build_config
from modegan.data import load_dataset
from modegan.report.plots import panels_png
from modegan.train import load, train
from modegan.train.run import config_hash
from modegan.train.rundir import RunDir

DEMO_PRESETS = ("gan", "wgan", "wgan-gp", "wgan-gp-toy")


def run_demo(out: str | Path, *, data: str, steps: int, presets: list[str], seed: int = 0,
             progress: bool = False) -> list[dict]:
    """Train (or reuse finished runs of) each preset, then write comparison.png and results.md."""
    out = Path(out)
    rows = []
    for name in presets:
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
        rows.append({"preset": name, "metrics": summary["metrics"], "protocol": summary["protocol"],
                     "elapsed_s": summary["elapsed_s"], "run": str(run.path)})

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
