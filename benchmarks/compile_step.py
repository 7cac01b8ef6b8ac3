"""Does `torch.compile` pay for the toy training step on this CPU? Eager against compiled, side by side.

Each variant (preset, what is compiled, inductor mode) runs in a fresh process with an empty inductor cache,
so its compile time is a cold compile. In that process two copies of the same run (same seed: same weights,
same random draws) are built, one left eager and one compiled, and:
  equality  both train --check-steps steps (default 20) from the same start; the largest absolute difference
            of any G or D weight is reported (it must stay <= 1e-5);
  compile   the compiled copy's first --warmup steps, less that many of its steady steps: the time the
            compiles (and any recompiles in the first steps) add;
  speed     the median per-step time of each copy over --repeats interleaved blocks of --steps steps;
  verdict   steps to amortise the compile (compile s / time saved per step), and the speed-up over a
            20,000-step run with the compile included (eager 20,000 steps / (compile + compiled 20,000)).

What is compiled (the realistic options for our step, which the library runs eagerly):
  nets      `torch.compile` of G's and D's MLPs (their forward; AOTAutograd compiles the backward too);
  G         the generator's MLP only (the critic's gradient penalty needs a double backward, which compiled
            graphs do not support);
  step      the whole `train_step` (dynamo graph-breaks where it must, the optimiser steps included).

    python benchmarks/compile_step.py [--only gan:nets:default,wgan-gp:G:default] [--steps 40] [--repeats 5]

Modes: default, reduce-overhead (CUDA graphs; on a CPU it is inductor's default code), max-autotune-no-cudagraphs.
A compile that fails is reported with its one-line reason. Needs a C++ compiler (inductor's CPU backend).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = (
    "gan:nets:default", "gan:nets:reduce-overhead", "gan:nets:max-autotune-no-cudagraphs", "gan:step:default",
    "gan:G:default", "wgan-gp:nets:default", "wgan-gp:G:default", "unrolled:nets:default",
)
RUN_STEPS = 20_000


def worker(variant: str, args) -> dict:
    import torch

    from modegan.config import build_config
    from modegan.data import load_dataset
    from modegan.malloc import tune_malloc
    from modegan.train.parts import build_parts
    from modegan.train.steps import train_step

    torch.set_num_threads(1)
    tune_malloc()
    preset, what, mode = variant.split(":")
    data = load_dataset("grid25")
    cfg = build_config(preset=preset)
    b = cfg.train.batch_size

    def fresh():
        return build_parts(cfg, data.dim)

    def compiled_copy():
        p = fresh()
        if what == "step":
            fn = torch.compile(train_step, mode=mode)
            return p, lambda: fn(p, data.train, b)
        if what in ("nets", "G"):
            p.G.net = torch.compile(p.G.net, mode=mode)
        if what == "nets":
            p.D.net = torch.compile(p.D.net, mode=mode)
        return p, lambda: train_step(p, data.train, b)

    def weights(p):
        return [q.detach().clone() for m in (p.G, p.D) for q in m.parameters()]

    out = {"variant": variant}
    try:
        # equality from the same start, the compiled copy's first steps timed: they hold the compile
        eager = fresh()
        comp, comp_step = compiled_copy()
        t0 = time.perf_counter()
        comp_step()
        out["first_step_s"] = time.perf_counter() - t0
        for _ in range(args.warmup - 1):
            comp_step()
        warm_s = time.perf_counter() - t0
        for _ in range(args.warmup):
            train_step(eager, data.train, b)
        for _ in range(args.check_steps - args.warmup):
            comp_step()
            train_step(eager, data.train, b)
        out["max_abs_diff"] = max(float((x - y).abs().max()) for x, y in zip(weights(eager), weights(comp),
                                                                                strict=True))
        out["steps_checked"] = args.check_steps

        def per_step(fn, n):
            t = time.perf_counter()
            for _ in range(n):
                fn()
            return (time.perf_counter() - t) / n

        e_step = lambda: train_step(eager, data.train, b)  # noqa: E731
        te, tc = [], []
        for _ in range(args.repeats):
            te.append(per_step(e_step, args.steps))
            tc.append(per_step(comp_step, args.steps))
        out["eager_ms"], out["compiled_ms"] = statistics.median(te) * 1e3, statistics.median(tc) * 1e3
        out["compile_s"] = max(0.0, warm_s - args.warmup * out["compiled_ms"] / 1e3)
    except Exception as e:  # noqa: BLE001 - the one-line reason is the result
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        out["error"] = f"{type(e).__name__}: {lines[0][:200] if lines else ''}"
    return out


def run_variant(variant: str, args) -> dict:
    cache = tempfile.mkdtemp(prefix="inductor-")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", variant, "--steps", str(args.steps), "--repeats", str(args.repeats),
           "--warmup", str(args.warmup), "--check-steps", str(args.check_steps)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"variant": variant, "error": f"timed out after {args.timeout} s"}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        tail = [ln for ln in p.stderr.splitlines() if ln.strip()][-1:] or ["no output"]
        return {"variant": variant, "error": f"worker exit {p.returncode}: {tail[0][:200]}"}
    return json.loads(lines[-1])


def verdict(r: dict) -> str:
    if "error" in r:
        return r["error"]
    saved = (r["eager_ms"] - r["compiled_ms"]) / 1e3
    amortise = f"{r['compile_s'] / saved:,.0f} steps to amortise" if saved > 0 else "never amortises"
    run = RUN_STEPS * r["eager_ms"] / 1e3 / (r["compile_s"] + RUN_STEPS * r["compiled_ms"] / 1e3)
    equal = "equal" if r["max_abs_diff"] <= 1e-5 else "NOT equal"
    speed = r["eager_ms"] / r["compiled_ms"]
    return (f"eager {r['eager_ms']:.2f} ms, compiled {r['compiled_ms']:.2f} ms ({speed:.2f}x),"
            f" compile {r['compile_s']:.1f} s (first step {r['first_step_s']:.1f} s), {amortise}, "
            f"{run:.2f}x over a {RUN_STEPS:,}-step run; max |diff| after {r['steps_checked']} steps "
            f"{r['max_abs_diff']:.1e} ({equal})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(VARIANTS), help="preset:what:mode, comma-separated")
    ap.add_argument("--steps", type=int, default=40, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved blocks per side")
    ap.add_argument("--warmup", type=int, default=3, help="compiled steps counted as the compile")
    ap.add_argument("--check-steps", type=int, default=20, help="steps compared against eager (>= --warmup)")
    ap.add_argument("--timeout", type=int, default=420, help="seconds per variant")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return
    import torch

    cc = shutil.which(os.environ.get("CXX", "g++")) or shutil.which("gcc")
    print(f"torch {torch.__version__}, C++ compiler {cc or 'NOT FOUND (inductor cannot compile on CPU)'}, 1 thread, "
          f"grid25 batch 256, median of {args.repeats} interleaved blocks of {args.steps} steps")
    for v in filter(None, args.only.split(",")):
        r = run_variant(v, args)
        print(f"{v:<40} {verdict(r)}", flush=True)


if __name__ == "__main__":
    main()
