"""Calibration rows for a toy results table: the metrics of the true mixture and of uniform noise.

A method's number means something only beside these two: the true mixture is the best a sampler can score
at this protocol (sampling noise included), uniform noise over the data's box is what a sampler that learned
nothing but the data's range scores. Same protocol as a run's evaluation (`modegan eval`): 2,500 samples
drawn with generator seed 2,500, Mahalanobis threshold 3, w1 against fresh real samples from the same
generator.

    python benchmarks/calibration_rows.py --datasets ring8,grid25
"""

from __future__ import annotations

import argparse

import torch

from modegan.data import load_dataset
from modegan.metrics import evaluate_toy

KEYS = ("modes", "hqs", "rkl_modes", "jsd_grid", "w1")


def calibration(name: str, n: int = 2_500, seed: int = 2_500) -> dict[str, dict[str, float]]:
    """{'true mixture': metrics, 'uniform noise': metrics}; noise is uniform over the training set's box."""
    dataset = load_dataset(name)
    lo, hi = dataset.train.min(0).values, dataset.train.max(0).values
    out = {}
    for label in ("true mixture", "uniform noise"):
        rng = torch.Generator().manual_seed(seed)
        if label == "true mixture":
            samples = dataset.sample_real(n, rng)
        else:
            samples = lo + (hi - lo) * torch.rand(n, dataset.dim, generator=rng)
        out[label] = {k: m.value for k, m in evaluate_toy(samples, dataset, rng).items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ring8,grid25")
    args = ap.parse_args()
    print("| dataset | sampler | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 2) + "|")
    for name in args.datasets.split(","):
        for label, values in calibration(name).items():
            print(f"| {name} | {label} | " + " | ".join(f"{values[k]:.3g}" for k in KEYS) + " |")


if __name__ == "__main__":
    main()
