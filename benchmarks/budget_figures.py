"""The budget study merged from several `bench budget` directories: budget.csv, budget.md (plateaus) and
one PNG figure per dataset (for the README), drawn exactly as `modegan bench budget` draws budget.html.

    python benchmarks/budget_figures.py runs/budget runs/budget-grid25 runs/budget-wgangp-ring8 \\
        --out benchmarks/results/budget --figures docs

A study run in parts (presets at different budgets, or datasets in separate directories so that they
train at once) is one table here. Every run under the directories' runs/ folders is read; a preset under
two settings is labelled by the keys it changes (`bench.results.collect`).
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from modegan.bench.budget import by_run, evaluations, write_budget
from modegan.bench.results import collect, references
from modegan.report.budget import budget_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dirs", nargs="+", type=Path, help="`bench budget` output directories")
    ap.add_argument("--out", type=Path, required=True, help="where budget.csv, budget.md and budget.html go")
    ap.add_argument("--figures", type=Path, default=None, help="where budget_<dataset>.png go (default: --out)")
    ap.add_argument("--setting", default="", help="a line saying how the runs were made, written into budget.md")
    args = ap.parse_args()
    rows = collect([d / "runs" if (d / "runs").is_dir() else d for d in args.bench_dirs])
    args.out.mkdir(parents=True, exist_ok=True)
    write_budget(args.out, rows, setting=args.setting)
    runs = by_run(evaluations(rows))
    refs, _ = references(rows)
    figures = args.figures or args.out
    figures.mkdir(parents=True, exist_ok=True)
    for dataset in dict.fromkeys(d for d, _ in runs):
        uri = budget_figure(runs, dataset, refs)
        if uri is not None:
            path = figures / f"budget_{dataset}.png"
            path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
            print(f"{path} ({path.stat().st_size // 1024} KB)")
    print(f"{args.out}/budget.csv, budget.md, budget.html")


if __name__ == "__main__":
    main()
