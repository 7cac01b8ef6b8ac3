"""Time the exact assignment solvers on the cost matrices a real DIWGAN run produces.

Trains `diwgan` on grid25 and, at a few steps along the run, encodes a fresh generated batch and takes its
latent costs to the targets: the matrix DIWGAN pairs at that step. Each solver is timed on it (best of
--repeats) and must reach the same optimal total: lapx's Jonker-Volgenant `lapjvr` ("lapjv", DIWGAN's
default), scipy's `linear_sum_assignment` ("lsa") and POT's network simplex ("simplex").
Untrained codes (the first ~50 steps) are the slowest case for the augmenting-path solvers.

    python benchmarks/assignment_solvers.py [--batch 256] [--at 1,25,50,100,200,500,1000,2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import torch

from modegan.data import load_dataset
from modegan.malloc import tune_malloc
from modegan.weighting.diwgan import pair


def solvers() -> dict:
    return {name: functools.partial(pair, solver=name) for name in ("lapjv", "lsa", "simplex")}


def best_ms(fn, cost, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        rows, cols = fn(cost)
        times.append(time.perf_counter() - t)
    return min(times) * 1e3, float(cost[np.asarray(rows), np.asarray(cols)].sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--at", default="1,25,50,100,200,500,1000,2000", help="steps at which to time the pairing")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tune_malloc()
    from step_speed import preset_step  # this folder's benchmark: the same DIWGAN step it times

    at = sorted(int(s) for s in args.at.split(","))
    data = load_dataset("grid25")
    step = preset_step("diwgan", data, args.batch, ae_steps=None)
    p = step.args[0]
    fns = solvers()
    print(f"DIWGAN on grid25, batch {args.batch}: ms per exact pairing (best of {args.repeats})")
    print(f"{'step':>6} " + " ".join(f"{k:>9}" for k in fns))
    done = 0
    for target in at:
        while done < target:
            step()
            done += 1
        with torch.no_grad():
            codes = p.diwgan.encoder(p.G(p.G.sample_z(args.batch, torch.Generator().manual_seed(target))))
        cost = p.diwgan.latent_costs(codes)
        results = {k: best_ms(fn, cost, args.repeats) for k, fn in fns.items()}
        totals = [total for _, total in results.values()]
        if max(totals) - min(totals) > 1e-9 * max(1.0, abs(totals[0])):
            raise SystemExit(f"solvers disagree on the optimal total at step {target}: {totals}")
        print(f"{target:>6} " + " ".join(f"{ms:9.2f}" for ms, _ in results.values()))


if __name__ == "__main__":
    main()
