"""Evaluation metrics. Toy mixtures: benchmarks.md §2."""

from modegan.metrics.toy import (
    GridReference,
    Metric,
    evaluate_toy,
    grid_reference,
    hqs,
    jensen_shannon,
    jsd_grid,
    modes,
    nearest_component,
    rkl_modes,
    w1,
)

__all__ = [
    "GridReference",
    "Metric",
    "evaluate_toy",
    "grid_reference",
    "hqs",
    "jensen_shannon",
    "jsd_grid",
    "modes",
    "nearest_component",
    "rkl_modes",
    "w1",
]
