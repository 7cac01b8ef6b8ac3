"""Calibration rows for a toy results table: the metrics of the true mixture and of uniform noise.

The library computes them (`modegan.bench.calibration`) and every bench table, results.csv and report carries
them; this prints them alone for a protocol: `--samples` draws with generator seed `--seed` (2,500 and 2,500,
as a run's evaluation), Mahalanobis threshold 3, w1 against fresh real samples from the same generator.
Uniform noise is over the means' range widened by 3 sigma_max (before 2026-12, this script used the training
set's bounding box, which is what the README's 10,000-step Unrolled table was computed with).

    python benchmarks/calibration_rows.py --datasets ring8,grid25
"""

from __future__ import annotations

import argparse

from modegan.bench.calibration import calibration
from modegan.data import load_dataset

KEYS = ("modes", "hqs", "rkl_modes", "jsd_grid", "w1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--samples", type=int, default=2_500)
    ap.add_argument("--seed", type=int, default=2_500)
    args = ap.parse_args()
    print("| dataset | sampler | " + " | ".join(KEYS) + " |")
    print("|---" * (len(KEYS) + 2) + "|")
    for name in args.datasets.split(","):
        for label, values in calibration(load_dataset(name), args.samples, args.seed, 3.0).items():
            cells = ("-" if values.get(k) is None else f"{values[k]:.3g}" for k in KEYS)
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
