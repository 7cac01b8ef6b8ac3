"""Importance weighting of loss terms (methods.md §1) and DIWGAN's dual importance loss (methods.md §3)."""

from modegan.weighting.diwgan import DualImportanceLoss, build_diwgan, pair, select_targets
from modegan.weighting.kde import GaussianKDE, SingularCovarianceError, bandwidth_factor
from modegan.weighting.weights import (
    ALLOWED,
    ROLES,
    SampleWeighting,
    combine,
    density_ratio,
    distance,
    ess,
    fixed,
    hard,
    max_over_mean,
    normalise,
    top_k,
    top_k_rate,
)

__all__ = [
    "ALLOWED",
    "ROLES",
    "DualImportanceLoss",
    "GaussianKDE",
    "SampleWeighting",
    "SingularCovarianceError",
    "bandwidth_factor",
    "build_diwgan",
    "combine",
    "density_ratio",
    "distance",
    "ess",
    "fixed",
    "hard",
    "max_over_mean",
    "normalise",
    "pair",
    "select_targets",
    "top_k",
    "top_k_rate",
]
