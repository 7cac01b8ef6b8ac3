"""Time S seeds of one preset trained as one stacked batch (`train_seeds`) against S separate `train` runs.

Every variant runs in a fresh process, one after another (so they share the machine the same way), and
times only the training calls (set-up, data and the final evaluation included, imports not):
  separate, 1 thread    the S runs one after another, 1 torch thread
  batched, 1 thread     one `train_seeds` call, 1 torch thread
  separate, 2 procs     two processes in parallel, each running half of the seeds, 1 thread each
  batched, 2 threads    one `train_seeds` call with train.threads=2 (the target: a batch on 2 cores)

    python benchmarks/batched_seeds.py [--preset wgan-gp] [--data grid25] [--seeds 10] [--steps 200]
                                       [--default-malloc]

Every variant runs with `modegan.malloc.tune_malloc()`, as the CLI and `bench` workers do: glibc's mmap and
trim thresholds raised, so that freed activations stay in the heap instead of being faulted in afresh each
step. --default-malloc runs them all with glibc's defaults instead (both variants lose; the batched one
more, its tensors are S times larger).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def configs(args, seeds, threads):
    from modegan.config import build_config

    over = {"data": {"name": args.data}, "train": {"steps": args.steps, "eval_every": args.steps, "plots": False,
                                                   "threads": threads}}
    return [build_config(preset=args.preset, overrides={**over, "train": {**over["train"], "seed": s}})
            for s in seeds]


def worker(args) -> None:
    """Train the given seeds in this process; print start and end wall-clock times as JSON."""
    import modegan
    from modegan.malloc import tune_malloc
    from modegan.train.batched import train_seeds

    tune_malloc()  # a no-op under MODEGAN_MALLOC=default (--default-malloc)

    seeds = [int(s) for s in args.worker_seeds.split(",")]
    cfgs = configs(args, seeds, args.threads)
    outs = [Path(args.out) / f"seed{s}" for s in seeds]
    t0 = time.time()
    if args.worker == "batched":
        train_seeds(cfgs, outs)
    else:
        for cfg, out in zip(cfgs, outs, strict=True):
            modegan.train(cfg, out=out)
    print(json.dumps({"start": t0, "end": time.time()}))


def launch(args, kind: str, seeds: list[int], threads: int, out: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", kind, "--worker-seeds", ",".join(map(str, seeds)),
           "--threads", str(threads), "--out", str(out), "--preset", args.preset, "--data", args.data,
           "--steps", str(args.steps)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env={**env, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})


def timed(args, kind: str, groups: list[list[int]], threads: int, env: dict) -> float:
    """Wall time from the first worker's start to the last one's end (the workers run concurrently)."""
    with tempfile.TemporaryDirectory() as tmp:
        procs = [launch(args, kind, g, threads, Path(tmp) / f"w{i}", env) for i, g in enumerate(groups)]
        times = []
        for p in procs:
            stdout, _ = p.communicate()
            if p.returncode:
                raise SystemExit(f"{kind} worker failed ({p.returncode})")
            times.append(json.loads(stdout.strip().splitlines()[-1]))
    return max(t["end"] for t in times) - min(t["start"] for t in times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="wgan-gp")
    ap.add_argument("--data", default="grid25")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--default-malloc", action="store_true", help="glibc's malloc thresholds, not modegan's")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--worker-seeds", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    env = {**os.environ, "MODEGAN_MALLOC": "default" if args.default_malloc else "tuned"}
    seeds = list(range(args.seeds))
    half = (seeds[: len(seeds) // 2], seeds[len(seeds) // 2:])
    print(f"{args.seeds} seeds of {args.preset} on {args.data}, {args.steps} steps, one evaluation at the end"
          f"{', glibc default malloc' if args.default_malloc else ', tuned malloc'}")
    t = {
        "separate, 1 thread": timed(args, "separate", [seeds], 1, env),
        "batched, 1 thread": timed(args, "batched", [seeds], 1, env),
        "separate, 2 procs": timed(args, "separate", list(half), 1, env),
        "batched, 2 threads": timed(args, "batched", [seeds], 2, env),
    }
    for name, s in t.items():
        print(f"  {name:<20} {s:7.2f} s  ({s / args.seeds / args.steps * 1e3:6.2f} ms per seed-step)")
    print(f"ratio, 1 core:  separate / batched = {t['separate, 1 thread'] / t['batched, 1 thread']:.2f}x")
    print(f"ratio, 2 cores: separate 2 procs / batched 2 threads = "
          f"{t['separate, 2 procs'] / t['batched, 2 threads']:.2f}x")
    print(f"ratio: separate 1 thread / batched 2 threads = {t['separate, 1 thread'] / t['batched, 2 threads']:.2f}x")
    print("target: batched >= 5x faster")


if __name__ == "__main__":
    main()
