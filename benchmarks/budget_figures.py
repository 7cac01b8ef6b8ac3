"""The budget study's figures as PNG files (for the README): the same figure as budget.html's, per dataset.

    python benchmarks/budget_figures.py runs/budget runs/budget-grid25 --out docs

reads every run under the given benchmark directories (their runs/ folders) and writes
`<out>/budget_<dataset>.png`: modes / HQS / JSD / W1 (mean over seeds) against generator steps and
against wall seconds, with the calibration lines, exactly as `modegan bench budget` draws them.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from modegan.bench.budget import by_run, evaluations
from modegan.bench.results import collect, references
from modegan.report.budget import budget_figure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench_dirs", nargs="+", type=Path, help="`bench budget` output directories")
    ap.add_argument("--out", type=Path, default=Path("docs"), help="where budget_<dataset>.png go")
    args = ap.parse_args()
    rows = collect([d / "runs" if (d / "runs").is_dir() else d for d in args.bench_dirs])
    runs = by_run(evaluations(rows))
    refs, _ = references(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    for dataset in dict.fromkeys(d for d, _ in runs):
        uri = budget_figure(runs, dataset, refs)
        if uri is None:
            continue
        path = args.out / f"budget_{dataset}.png"
        path.write_bytes(base64.b64decode(uri.split(",", 1)[1]))
        print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
