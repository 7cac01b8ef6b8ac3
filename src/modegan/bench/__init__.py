"""Benchmarks: methods x datasets x seeds, resumable, with statistics, published numbers and a report."""

from modegan.bench.budget import run_budget
from modegan.bench.mog import MOG_DATASETS, run_mog
from modegan.bench.stats import Cell, Interval, bootstrap_diff
from modegan.bench.suite import compare

__all__ = ["MOG_DATASETS", "Cell", "Interval", "bootstrap_diff", "compare", "run_budget", "run_mog"]
