"""Time one training step of S seeds stacked (`batched_train_step`) against S separate runs (`train_step`).

The steps alone, in one process, interleaved in blocks: a block steps each of the S separate runs once,
then the stacked batch once (or the other way round, alternating), so both see the same machine. Reported:
the median time per seed and step of each, and their ratio, the batch's per-seed throughput over that of
separate runs (target: >= 2x). 1 torch thread; DIWGAN's pairing runs in its background thread in both.

    python benchmarks/batched_steps.py [--presets unrolled,veegan,diwgan] [--data grid25] [--batch 256]
                                       [--seeds 10] [--blocks 15] [--warmup 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from modegan.config import build_config
from modegan.malloc import tune_malloc
from modegan.train.batched import BatchedParts, batched_train_step
from modegan.train.parts import attach_diwgan, build_parts
from modegan.train.run import run_dataset
from modegan.train.steps import train_step


def seed_parts(args, preset: str, seed: int, dataset, cache: Path):
    cfg = build_config(preset=preset, overrides={"data": {"name": args.data}, "train": {
        "batch_size": args.batch, "seed": seed, "plots": False}})
    p = build_parts(cfg, dataset.dim)
    if cfg.diwgan.enabled:  # the cache: the second build of a seed loads the autoencoder the first trained
        attach_diwgan(p, dataset.train, cache / f"seed{seed}")
    return p


def time_preset(args, preset: str, cache: Path) -> tuple[float, float]:
    """Median ms per seed-step: (separate runs, stacked batch)."""
    dataset = run_dataset(build_config(preset=preset, overrides={"data": {"name": args.data}}))
    seeds = range(args.seeds)
    separate = [seed_parts(args, preset, s, dataset, cache) for s in seeds]
    batch = BatchedParts.stack([seed_parts(args, preset, s, dataset, cache) for s in seeds])

    def run_separate():
        for p in separate:
            train_step(p, dataset.train, args.batch)

    def run_batch():
        batched_train_step(batch, dataset.train, args.batch)

    for _ in range(args.warmup):  # past DIWGAN's history fill, and warm allocator caches
        run_separate()
        run_batch()
    times = {"separate": [], "batched": []}
    for block in range(args.blocks):
        order = (("separate", run_separate), ("batched", run_batch))
        for name, fn in order if block % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / args.seeds * 1e3)
    return statistics.median(times["separate"]), statistics.median(times["batched"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="unrolled,veegan,diwgan")
    ap.add_argument("--data", default="grid25")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--blocks", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    print(f"{args.seeds} seeds, {args.data}, batch {args.batch}, 1 thread: median ms per seed and step")
    print(f"{'preset':<10} {'separate':>9} {'batched':>9} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            sep, bat = time_preset(args, preset, Path(tmp) / preset)
            print(f"{preset:<10} {sep:9.2f} {bat:9.2f} {sep / bat:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
