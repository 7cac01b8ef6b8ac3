"""One DCGAN Stacked-MNIST epoch on a device: images/s of modegan's `train_step`, fp32 and bf16 side by side.

An epoch is 128,000 stacks (benchmarks.md §4): 2,000 steps at batch 64. The data are synthesised
Stacked-MNIST-shaped digits (random uint8, stacked by `StackedMNIST`, held on the device by `ImagesOn`), so
no download is needed; the networks are the VEEGAN setting's (z 100, widths 64). The precisions alternate
in blocks; the epoch time is extrapolated from the median block.

    python benchmarks/image_epoch.py --device cuda [--preset gan] [--batch 64] [--steps 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from modegan.config import build_config
from modegan.data.images import ImagesOn, StackedMNIST, TensorImages
from modegan.device import Placement, resolve_device
from modegan.train.parts import build_parts
from modegan.train.steps import train_step

EPOCH = 128_000


def synthetic_stacked(n_source: int = 10_000) -> StackedMNIST:
    g = torch.Generator().manual_seed(0)
    digits = TensorImages("mnist-train", torch.randint(0, 256, (n_source, 1, 28, 28), generator=g, dtype=torch.uint8),
                          torch.randint(0, 10, (n_source,), generator=g), "synthetic")
    return StackedMNIST(digits, n=EPOCH, seed=0)


def make_step(preset: str, batch: int, precision: str, device: torch.device, data: StackedMNIST):
    cfg = build_config(preset=preset, overrides={
        "data": {"name": "stacked-mnist", "verify": False}, "model": {"z_dim": 100, "g_width": 64, "d_width": 64},
        "train": {"batch_size": batch, "precision": precision}})
    place = Placement(device, precision)
    parts = build_parts(cfg, 3 * 28 * 28, place)
    train = ImagesOn(data, device)

    def step():
        with place.autocast():
            return train_step(parts, train, batch)

    return step


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--preset", default="gan")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device, "--device")
    data = synthetic_stacked()
    steps = {p: make_step(args.preset, args.batch, p, device, data) for p in ("fp32", "bf16")}
    for s in steps.values():  # warm-up: allocator, kernels, autotuning
        for _ in range(5):
            s()
    times: dict[str, list[float]] = {p: [] for p in steps}
    for _ in range(args.repeats):
        for p, s in steps.items():
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                out = s()
            float(out["g_loss"])
            sync(device)
            times[p].append((time.perf_counter() - t0) / args.steps)
    print(f"DCGAN {args.preset}, Stacked MNIST shapes, batch {args.batch}, {device}, median of {args.repeats} blocks "
          f"of {args.steps} steps")
    print("| precision | ms/step | images/s | epoch (128,000 stacks) |")
    print("|---|---|---|---|")
    for p, ts in times.items():
        t = statistics.median(ts)
        print(f"| {p} | {t * 1e3:.2f} | {args.batch / t:,.0f} | {EPOCH / args.batch * t:.1f} s |")


if __name__ == "__main__":
    main()
