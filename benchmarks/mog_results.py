"""Train presets x datasets x seeds on the toy mixtures and print mean (std) of the final metrics.

A stop-gap until `modegan bench mog`: runs go to OUT/<dataset>/<preset>/seed<k>; finished runs are
reused, so the script can be interrupted and run again. Runs are spread over worker processes with
one torch thread each.

    python benchmarks/mog_results.py --presets gan,iwgan,diwgan --datasets ring8,grid25 --seeds 3 --steps 5000
    python benchmarks/mog_results.py --presets diwgan --set diwgan.targets=kmeans   # an ablation
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

KEYS = ("modes", "hqs", "rkl_modes", "jsd_grid", "w1")


def one(job):
    preset, data, seed, steps, out, extra = job
    import modegan
    from modegan.config import merge
    from modegan.train.rundir import RunDir

    run = RunDir(out)
    s = run.read_summary()
    if s and s.get("status") == "finished" and s.get("step") == steps:
        return job, s
    try:
        cfg = merge(extra, {"preset": preset, "data": {"name": data},
                            "train": {"steps": steps, "seed": seed, "eval_every": max(1, steps // 5)}})
        s = modegan.train(cfg, out=out, overwrite=True)
    except modegan.ModeganError as e:
        s = {"status": "failed", "error": str(e), "metrics": {}}
    return job, s


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="gan,iwgan,diwgan")
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/results")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for every run")
    args = ap.parse_args()
    from modegan.config import parse_overrides

    extra = parse_overrides(args.set)
    tag = "".join(f"+{s}" for s in args.set)
    jobs = [(p, d, s, args.steps, str(Path(args.out) / d / (p + tag) / f"seed{s}"), extra)
            for d in args.datasets.split(",") for p in args.presets.split(",") for s in range(args.seeds)]
    results: dict = {}
    with ProcessPoolExecutor(args.workers) as pool:
        for (p, d, s, _, _, _), summary in pool.map(one, jobs):
            results.setdefault((d, p), []).append(summary)
            print(f"{d} {p} seed {s}: {summary['status']} "
                  + json.dumps({k: summary["metrics"].get(k) for k in KEYS}), flush=True)
    print(f"\n{args.steps} generator steps, {args.seeds} seeds, mean (std); "
          "2,500 samples, Mahalanobis 3-sigma, nats\n")
    print("| dataset | preset | " + " | ".join(KEYS) + " | s/run |")
    print("|---" * (len(KEYS) + 3) + "|")
    for (d, p), runs in results.items():
        cells = []
        for k in KEYS:
            vals = [r["metrics"][k] for r in runs if r["metrics"].get(k) is not None]
            cells.append("-" if not vals else
                         f"{statistics.mean(vals):.3g} ({statistics.stdev(vals) if len(vals) > 1 else 0:.2g})"
                         + ("" if len(vals) == len(runs) else f" [{len(vals)}/{len(runs)}]"))
        secs = [r["elapsed_s"] for r in runs if "elapsed_s" in r]
        print(f"| {d} | {p} | " + " | ".join(cells) + f" | {statistics.mean(secs):.0f} |" if secs else " |")


if __name__ == "__main__":
    main()
