"""DCGAN training throughput on Stacked MNIST (3x28x28, batch 64, z 100, widths 64), images/s on 2 CPU cores:
modegan's `train_step` and whole `train` loop beside a plain PyTorch loop with the same networks, written here.

Both run in one process, interleaved in blocks, on synthesised Stacked-MNIST-shaped data (random uint8 digits
stacked by `StackedMNIST`, so batches are built from index triples exactly as on the real data). The median
per-step time of each is reported with the ratio (issue #6 §5 target: modegan <= 1.1x plain).
  step: `train_step` on the parts `build_parts` makes for preset gan;
  loop: `modegan.train` per step, with its set-up and final evaluation removed by subtracting a 1-step run
        (same data shape, a folder dataset so no classifier is needed; evaluation on 64 samples).

    python benchmarks/dcgan_speed.py [--steps 10] [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import modegan
from modegan.config import build_config
from modegan.data.images import StackedMNIST, TensorImages
from modegan.train.parts import build_parts
from modegan.train.steps import train_step

BATCH, Z, W = 64, 100, 64


def plain_generator() -> nn.Sequential:
    """z (100) -> 256@3x3 -> 128@7x7 -> 64@14x14 -> 3@28x28, BatchNorm + ReLU, tanh: the DCGAN of dcgan.py."""
    def up(i, o, k, s, p):
        return [nn.ConvTranspose2d(i, o, k, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU(True)]
    return nn.Sequential(*up(Z, 4 * W, 3, 1, 0), *up(4 * W, 2 * W, 3, 2, 0), *up(2 * W, W, 4, 2, 1),
                         nn.ConvTranspose2d(W, 3, 4, 2, 1), nn.Tanh())


def plain_discriminator() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, W, 4, 2, 1), nn.LeakyReLU(0.2, True),
        nn.Conv2d(W, 2 * W, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * W), nn.LeakyReLU(0.2, True),
        nn.Conv2d(2 * W, 4 * W, 3, 2, 1, bias=False), nn.BatchNorm2d(4 * W), nn.LeakyReLU(0.2, True),
        nn.Conv2d(4 * W, 1, 4, 1, 0), nn.Flatten(),
    )


def make_plain_step(data: StackedMNIST):
    """The non-saturating GAN step a person would write: real batch, D step, G step, Adam 2e-4 (0.5, 0.999)."""
    torch.manual_seed(0)
    G, D = plain_generator(), plain_discriminator()
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator().manual_seed(0)
    source = data.source_images.data

    def step():
        rows = data.index[torch.randint(data.n, (BATCH,), generator=rng)]
        real = source[rows.reshape(-1), 0].reshape(BATCH, 3, 28, 28).float().div_(127.5).sub_(1)
        with torch.no_grad():
            fake = G(torch.randn(BATCH, Z, 1, 1, generator=rng))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = F.softplus(-D(G(torch.randn(BATCH, Z, 1, 1, generator=rng)))).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()

    return step


def synthetic_stacked(n_source: int = 10_000, n: int = 128_000) -> StackedMNIST:
    g = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (n_source, 1, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (n_source,), generator=g)
    return StackedMNIST(TensorImages("mnist-train", pixels, labels, "synthetic"), n=n)


def make_modegan_step(data: StackedMNIST):
    cfg = build_config(preset="gan", overrides={"data": {"name": "stacked-mnist"}})
    parts = build_parts(cfg, 3 * 28 * 28)
    return lambda: train_step(parts, data, cfg.train.batch_size)


def loop_seconds(folder: Path, steps: int, out: Path) -> float:
    cfg = {"preset": "gan", "data": {"name": str(folder), "image_size": 28},
           "train": {"steps": steps, "eval_every": steps, "eval_samples": 64, "threads": torch.get_num_threads()}}
    t0 = time.perf_counter()
    modegan.train(cfg, out=out, overwrite=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="steps per timed block")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved blocks per contender")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = synthetic_stacked()
    contenders = {"plain": make_plain_step(data), "modegan step": make_modegan_step(data)}
    for fn in contenders.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in [*contenders, "modegan loop"]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(256):
            Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
        for _ in range(args.repeats):
            for name, fn in contenders.items():
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    fn()
                times[name].append((time.perf_counter() - t0) / args.steps)
            one = loop_seconds(folder, 1, Path(tmp) / "run")
            many = loop_seconds(folder, args.steps + 1, Path(tmp) / "run")
            times["modegan loop"].append((many - one) / args.steps)
    plain = statistics.median(times["plain"])
    print(f"DCGAN on Stacked MNIST shapes, batch {BATCH}, z {Z}, widths {W}, {args.threads} threads, "
          f"median of {args.repeats} interleaved blocks of {args.steps} steps")
    print(f"{'':14} {'ms/step':>8} {'images/s':>9} {'x plain':>8}")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:14} {1000 * t:8.1f} {BATCH / t:9.0f} {t / plain:8.3f}")


if __name__ == "__main__":
    main()
