"""Statistics over seeds: mean (std) cells and a bootstrap interval for the difference of two methods."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from modegan.errors import ModeganError


@dataclass(frozen=True)
class Cell:
    """One benchmark cell: the per-seed values kept, and their mean and sample std (ddof 1)."""

    values: tuple[float, ...]
    n_runs: int  # runs in the cell, including failed ones and undefined values

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n > 1 else (0.0 if self.n == 1 else math.nan)

    def format(self, digits: int = 3) -> str:
        """`mean (std)`, with `[n/N]` when some runs gave no value (failed, or undefined such as rkl_modes)."""
        if not self.values:
            return "-"
        text = f"{self.mean:.{digits}g} ({self.std:.2g})"
        return text if self.n == self.n_runs else f"{text} [{self.n}/{self.n_runs}]"


def cell(values: list[float | None], n_runs: int | None = None) -> Cell:
    kept = tuple(float(v) for v in values if v is not None and math.isfinite(v))
    return Cell(kept, len(values) if n_runs is None else n_runs)


@dataclass(frozen=True)
class Interval:
    estimate: float  # mean(a) - mean(b)
    low: float
    high: float
    level: float
    n_boot: int
    n_a: int
    n_b: int

    def format(self) -> str:
        return (f"{self.estimate:.4g} [{self.low:.4g}, {self.high:.4g}] "
                f"({self.level:.0%} percentile bootstrap, {self.n_boot} resamples, n = {self.n_a} vs {self.n_b})")


def bootstrap_diff(a: list[float], b: list[float], *, n_boot: int = 10_000, level: float = 0.95,
                   seed: int = 0) -> Interval:
    """Percentile-bootstrap interval for mean(a) - mean(b), resampling each method's seeds independently.

    Seeds of different methods are independent runs, so the groups are resampled separately.
    """
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a_arr) < 2 or len(b_arr) < 2:
        raise ModeganError(
            f"a bootstrap interval needs at least 2 values per method, got {len(a_arr)} and {len(b_arr)}")
    if not 0 < level < 1:
        raise ModeganError(f"confidence level must be between 0 and 1, got {level}")
    rng = np.random.default_rng(seed)
    ma = a_arr[rng.integers(0, len(a_arr), (n_boot, len(a_arr)))].mean(1)
    mb = b_arr[rng.integers(0, len(b_arr), (n_boot, len(b_arr)))].mean(1)
    diffs = ma - mb
    tail = (1 - level) / 2
    low, high = np.quantile(diffs, [tail, 1 - tail])
    return Interval(float(a_arr.mean() - b_arr.mean()), float(low), float(high), level, n_boot, len(a_arr), len(b_arr))
