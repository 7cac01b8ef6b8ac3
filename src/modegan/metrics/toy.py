"""Mode-coverage metrics for the toy mixtures, exactly as benchmarks.md §2 defines them.

Pure functions of (samples, mixture). Each returns a `Metric` whose `protocol` records every choice that
makes the number comparable (counts, threshold, distance, log base, grid), because the literature's
numbers for the "same" metric disagree when these differ (methods.md §4.3–4.5).
"""

from __future__ import annotations

import functools
import hashlib
import math
import numbers
from dataclasses import dataclass

import numpy as np
import ot
import torch
from scipy.spatial.distance import cdist
from scipy.special import ndtr

from modegan.data import GaussianMixture, ToyDataset
from modegan.data.mixtures import pairwise_min_distance
from modegan.errors import ModeganError

MC_DRAWS = 1_000_000  # true cell mass estimated from this many draws when a covariance is not diagonal
MC_SEED = 2019  # fixed, so the Monte Carlo reference is the same in every run
MAX_GRID_CELLS = 2_000_000  # beyond this (high-dimensional user mixtures) the grid histogram is not computed
MAX_W1_SAMPLES = 10_000  # the exact assignment needs an n×n cost matrix (10,000² float64 = 800 MB)
_ASSIGN_CHUNK = 4_000_000  # elements of the (chunk, K, d) difference array held at once


@dataclass(frozen=True)
class Metric:
    """A metric value plus the protocol needed to compare it with other numbers (JSON-able)."""

    name: str
    value: float
    protocol: dict


# ---------------------------------------------------------------------------------------------------------
# Input checks


def _as_points(samples, what: str, dim: int | None = None) -> np.ndarray:
    """Samples as an (n, d) float64 array; anything else (including NaN from a diverged generator) is a
    clear ModeganError rather than a numpy traceback."""
    if isinstance(samples, torch.Tensor):
        if samples.is_complex():
            raise ModeganError(f"{what} must be real numbers, got a complex tensor")
        array = samples.detach().cpu().to(torch.float64).numpy()
    else:
        try:
            array = np.asarray(samples)
        except ValueError:
            raise ModeganError(f"{what} must be a 2-D array, got ragged rows") from None
        if array.dtype.kind not in "fiub":
            raise ModeganError(f"{what} must be numeric, got dtype {array.dtype}")
        array = array.astype(np.float64)
    if array.ndim != 2:
        raise ModeganError(f"{what} must have shape (n, d), got {array.shape}")
    if array.shape[0] < 1:
        raise ModeganError(f"{what} are empty")
    if dim is not None and array.shape[1] != dim:
        raise ModeganError(f"{what} have dimension {array.shape[1]}, expected {dim}")
    bad_rows = ~np.isfinite(array).all(axis=1)
    if bad_rows.any():
        raise ModeganError(
            f"{what} contain NaN/Inf in {int(bad_rows.sum())} of {len(array)} rows (first: row "
            f"{int(np.argmax(bad_rows))}); the generator has probably diverged"
        )
    return array


def _check_threshold(threshold) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < math.inf:
        raise ModeganError(f"threshold must be a positive number, got {threshold!r}")
    return float(threshold)


# ---------------------------------------------------------------------------------------------------------
# Mode assignment: hqs, modes, rkl_modes


def nearest_component(x: np.ndarray, mix: GaussianMixture) -> tuple[np.ndarray, np.ndarray]:
    """For each row of x: the component nearest by Mahalanobis distance, and that distance.

    d_k(x) = ‖L_k⁻¹ (x − μ_k)‖ with cov_k = L_k L_kᵀ; for isotropic σ² I this is ‖x − μ_k‖ / σ, which
    is PacGAN's variance-normalised distance. Ties go to the lower component index.
    """
    n = len(x)
    nearest = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float64)
    chunk = max(1, _ASSIGN_CHUNK // (mix.n_modes * mix.dim))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        diff = x[start:stop, None, :] - mix.means[None, :, :]  # (c, K, d)
        y = np.einsum("kij,ckj->cki", mix.inv_chol, diff)
        d2 = (y * y).sum(axis=-1)  # (c, K)
        best = d2.argmin(axis=1)
        nearest[start:stop] = best
        dist[start:stop] = np.sqrt(d2[np.arange(stop - start), best])
    return nearest, dist


def _hq_protocol(n: int, mix: GaussianMixture, threshold: float) -> dict:
    return {
        "mixture": mix.name,
        "n_modes": mix.n_modes,
        "n_samples": n,
        "threshold": threshold,
        "distance": "mahalanobis",
        "high_quality": "distance to the nearest component (nearest by that distance) < threshold",
    }


def _high_quality(samples, mix: GaussianMixture, threshold) -> tuple[np.ndarray, np.ndarray, float]:
    """Nearest component and HQ mask of each sample."""
    threshold = _check_threshold(threshold)
    x = _as_points(samples, "samples", mix.dim)
    nearest, dist = nearest_component(x, mix)
    return nearest, dist < threshold, threshold


def hqs(samples, mix: GaussianMixture, threshold: float = 3.0) -> Metric:
    """% (0–100) of samples that are high quality (VEEGAN's "within 3 standard deviations")."""
    nearest, hq, threshold = _high_quality(samples, mix, threshold)
    protocol = _hq_protocol(len(nearest), mix, threshold) | {"unit": "%"}
    return Metric("hqs", 100.0 * float(hq.mean()), protocol)


def modes(samples, mix: GaussianMixture, threshold: float = 3.0) -> Metric:
    """Number of components that are the nearest component of at least one high-quality sample."""
    nearest, hq, threshold = _high_quality(samples, mix, threshold)
    protocol = _hq_protocol(len(nearest), mix, threshold) | {"unit": "modes", "max": mix.n_modes}
    return Metric("modes", float(len(np.unique(nearest[hq]))), protocol)


def rkl_modes(samples, mix: GaussianMixture, threshold: float = 3.0) -> Metric:
    """KL(p̂ ‖ uniform over K) in nats, p̂ the histogram of high-quality samples over their nearest
    components (PacGAN's "reverse KL"): log K when all are in one mode, 0 when perfectly balanced.
    Undefined (NaN) without any high-quality sample: p̂ does not exist, and 0 or log K would both lie."""
    nearest, hq, threshold = _high_quality(samples, mix, threshold)
    k = mix.n_modes
    protocol = _hq_protocol(len(nearest), mix, threshold) | {
        "unit": "nats",
        "log_base": "e",
        "reference": "uniform over components",
        "n_high_quality": int(hq.sum()),
        "max": math.log(k),
    }
    if not hq.any():
        return Metric("rkl_modes", float("nan"), protocol | {"note": "undefined: no high-quality sample"})
    p = np.bincount(nearest[hq], minlength=k) / hq.sum()
    nz = p > 0
    value = float(np.sum(p[nz] * np.log(p[nz] * k)))
    return Metric("rkl_modes", max(value, 0.0), protocol)


# ---------------------------------------------------------------------------------------------------------
# jsd_grid


@dataclass(frozen=True, eq=False)
class GridReference:
    """The jsd_grid grid of a mixture and the true probability mass of each cell.

    Cell (i_1, …, i_d) is the half-open box Π_a [lo_a + i_a h, lo_a + (i_a + 1) h); cells are flattened
    in C order and `mass[-1]` is the overflow cell (everything outside the grid).
    """

    lo: np.ndarray  # (d,)
    width: float  # h
    n_cells: tuple[int, ...]  # per axis
    sigma_max: float
    mass: np.ndarray  # (prod(n_cells) + 1,)
    true_mass: str  # "exact" or "monte_carlo_1e6"

    def histogram(self, x: np.ndarray) -> np.ndarray:
        """Counts of the rows of x per cell, overflow last."""
        n_cells = np.array(self.n_cells)
        index = np.floor((x - self.lo) / self.width)
        inside = np.all((index >= 0) & (index < n_cells), axis=1)
        flat = np.full(len(x), int(np.prod(n_cells)), dtype=np.int64)
        if inside.any():
            flat[inside] = np.ravel_multi_index(index[inside].astype(np.int64).T, self.n_cells)
        return np.bincount(flat, minlength=len(self.mass)).astype(np.float64)

    def protocol(self) -> dict:
        protocol = {
            "cell_width": self.width,
            "lo": [float(v) for v in self.lo],
            "n_cells": list(self.n_cells),
            "n_overflow_cells": 1,
            "cells": "half-open [lo + i*h, lo + (i+1)*h) per axis; all other points go to the overflow cell",
            "cell_width_rule": "half the smallest distance between two means",
            "padding": "3 * sigma_max on each side of the means' range, per axis",
            "sigma_max": self.sigma_max,
            "sigma_max_rule": "sqrt of the largest diagonal covariance entry (std along a coordinate axis)",
            "true_mass": self.true_mass,
        }
        if self.true_mass.startswith("monte_carlo"):
            protocol["true_mass_draws"] = MC_DRAWS
            protocol["true_mass_seed"] = MC_SEED
        return protocol


def _grid_geometry(mix: GaussianMixture) -> tuple[np.ndarray, float, tuple[int, ...], float]:
    """lo, h, cells per axis, sigma_max (benchmarks.md §2); ModeganError where the grid is undefined."""
    if mix.n_modes < 2:
        raise ModeganError(
            f"jsd_grid is undefined for mixture {mix.name!r}: it needs at least 2 components "
            "(the cell width is half the smallest distance between means)"
        )
    h = pairwise_min_distance(mix.means) / 2
    if not h > 0:
        raise ModeganError(f"jsd_grid is undefined for mixture {mix.name!r}: two components share a mean")
    sigma_max = math.sqrt(float(np.diagonal(mix.covs, axis1=1, axis2=2).max()))
    lo = mix.means.min(axis=0) - 3 * sigma_max
    hi = mix.means.max(axis=0) + 3 * sigma_max
    n_cells = tuple(int(math.ceil(v)) for v in (hi - lo) / h)
    total = math.prod(n_cells)
    if total > MAX_GRID_CELLS:
        raise ModeganError(
            f"jsd_grid is undefined for mixture {mix.name!r}: its grid has {total} cells "
            f"(limit {MAX_GRID_CELLS})"
        )
    return lo, h, n_cells, sigma_max


def _exact_mass(mix: GaussianMixture, lo: np.ndarray, h: float, n_cells: tuple[int, ...]) -> np.ndarray:
    """Cell masses integrated exactly: with diagonal covariances each component factorises over the axes,
    so a cell's mass is a product of 1-D normal CDF differences."""
    stds = np.sqrt(np.diagonal(mix.covs, axis1=1, axis2=2))  # (K, d)
    inside = np.zeros(n_cells, dtype=np.float64)
    for k in range(mix.n_modes):
        per_axis = []
        for a, n in enumerate(n_cells):
            edges = lo[a] + h * np.arange(n + 1)
            per_axis.append(np.diff(ndtr((edges - mix.means[k, a]) / stds[k, a])))
        inside += mix.weights[k] * functools.reduce(np.multiply.outer, per_axis)
    inside = inside.reshape(-1)
    overflow = max(0.0, 1.0 - float(inside.sum()))
    return np.append(inside, overflow)


def _mixture_key(mix: GaussianMixture) -> tuple:
    digest = hashlib.sha256()
    for array in (mix.means, mix.covs, mix.weights):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return mix.name, digest.hexdigest()


_GRID_CACHE: dict[tuple, GridReference] = {}


def grid_reference(mix: GaussianMixture, method: str = "auto") -> GridReference:
    """The jsd_grid grid and true cell masses of a mixture (cached per mixture content).

    method "auto": exact integration when every covariance is diagonal, else 1,000,000 seeded draws;
    "exact" / "monte_carlo" force one (exact needs diagonal covariances).
    """
    if method not in ("auto", "exact", "monte_carlo"):
        raise ModeganError(f"unknown true-mass method {method!r}; allowed: auto, exact, monte_carlo")
    off_diagonal = mix.covs * (1 - np.eye(mix.dim))
    diagonal = not np.any(off_diagonal)
    if method == "auto":
        method = "exact" if diagonal else "monte_carlo"
    if method == "exact" and not diagonal:
        raise ModeganError(f"exact true mass needs diagonal covariances; mixture {mix.name!r} has others")
    key = (method, *_mixture_key(mix))
    if key not in _GRID_CACHE:
        lo, h, n_cells, sigma_max = _grid_geometry(mix)
        if method == "exact":
            mass, label = _exact_mass(mix, lo, h, n_cells), "exact"
        else:
            draws, _ = mix._sample64(MC_DRAWS, torch.Generator().manual_seed(MC_SEED))
            empty = GridReference(lo, h, n_cells, sigma_max, np.zeros(math.prod(n_cells) + 1), "")
            mass, label = empty.histogram(draws.numpy()) / MC_DRAWS, "monte_carlo_1e6"
        for array in (lo, mass):
            array.setflags(write=False)
        _GRID_CACHE[key] = GridReference(lo, h, n_cells, sigma_max, mass, label)
    return _GRID_CACHE[key]


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JSD(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, in nats; 0·log 0 terms are skipped."""
    m = (p + q) / 2

    def kl_to_m(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    value = 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    return min(max(value, 0.0), math.log(2))


def jsd_grid(samples, mix: GaussianMixture) -> Metric:
    """Jensen–Shannon divergence (nats, max ln 2) between the samples' histogram and the mixture's true
    mass over the grid of benchmarks.md §2, overflow cell included so off-manifold mass counts.

    NaN (with a note) where the grid is undefined: fewer than 2 components or too many cells.
    """
    return _on_grid("jsd_grid", samples, mix, jensen_shannon,
                    {"log_base": "e", "unit": "nats", "max": math.log(2)})


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """TV(p, q) = ½ Σ |p − q| = sup over events A of |p(A) − q(A)|, in [0, 1]."""
    return min(max(0.5 * float(np.abs(np.asarray(p) - np.asarray(q)).sum()), 0.0), 1.0)


def tv_grid(samples, mix: GaussianMixture) -> Metric:
    """Total variation (max 1) between the samples' histogram and the mixture's true mass over the grid of
    `jsd_grid` (benchmarks.md §2), overflow cell included. Like JS it saturates, at 1, once the two share no
    cell (docs/theory.md §1). NaN (with a note) where the grid is undefined."""
    return _on_grid("tv_grid", samples, mix, total_variation, {"unit": "probability", "max": 1.0})


def _on_grid(name: str, samples, mix: GaussianMixture, divergence, units: dict) -> Metric:
    """`divergence(true mass, sample histogram)` over the grid of benchmarks.md §2, with its protocol."""
    x = _as_points(samples, "samples", mix.dim)
    protocol = {"mixture": mix.name, "n_samples": len(x), **units}
    try:
        grid = grid_reference(mix)
    except ModeganError as e:
        return Metric(name, float("nan"), protocol | {"note": f"undefined: {e}"})
    return Metric(name, divergence(grid.mass, grid.histogram(x) / len(x)), protocol | grid.protocol())


# ---------------------------------------------------------------------------------------------------------
# w1


def w1(samples, real) -> Metric:
    """Exact Wasserstein-1 distance (Euclidean cost) between two equal-size point sets.

    With equal sizes and uniform weights the optimal plan is a one-to-one matching, so this is the
    linear assignment problem of benchmarks.md §2. It is solved with POT's network simplex
    (`ot.emd2`), which gives the same optimum as scipy's `linear_sum_assignment` but stays near one
    second on collapsed generators, where the assignment solver takes tens of seconds.
    """
    x = _as_points(samples, "samples")
    y = _as_points(real, "real samples", x.shape[1])
    if len(x) != len(y):
        raise ModeganError(f"w1 needs as many samples as real samples, got {len(x)} and {len(y)}")
    if len(x) > MAX_W1_SAMPLES:
        raise ModeganError(f"w1 is exact and limited to {MAX_W1_SAMPLES} samples, got {len(x)}")
    cost = cdist(x, y)
    weights = np.full(len(x), 1.0 / len(x))
    value = float(ot.emd2(weights, weights, cost, numItermax=100_000_000))
    protocol = {
        "n_samples": len(x),
        "cost": "euclidean",
        "solver": "exact optimal transport (POT ot.emd2, network simplex)",
        "unit": "data units",
    }
    return Metric("w1", value, protocol)


# ---------------------------------------------------------------------------------------------------------
# Conditional metrics (docs/methods.md §10): classes of components, and the labels samples were drawn for


def _class_protocol(n: int, mix: GaussianMixture, class_of: np.ndarray, threshold: float, grouping: str | None,
                    labelled: bool) -> dict:
    sizes = np.bincount(class_of)
    return _hq_protocol(n, mix, threshold) | {
        "classes": grouping or "given", "n_classes": len(sizes), "class_sizes": sizes.tolist(),
        "labels": "the class each sample was drawn for" if labelled else
        "none (an unconditional generator): a sample counts for the class of its nearest component",
    }


def _check_classes(class_of, mix: GaussianMixture) -> np.ndarray:
    class_of = np.asarray(class_of)
    if class_of.shape != (mix.n_modes,) or class_of.dtype.kind not in "iu" or class_of.min() < 0:
        raise ModeganError(f"class_of must be one class index per component ({mix.n_modes}), got {class_of!r}")
    if len(np.unique(class_of)) != class_of.max() + 1:
        raise ModeganError("class_of: every class from 0 to the largest must hold a component")
    return class_of


def within_class_modes(samples, mix: GaussianMixture, class_of, labels=None, threshold: float = 3.0,
                       grouping: str | None = None) -> tuple[Metric, Metric]:
    """Within-class coverage: for each class k, how many of its components are the nearest component of a
    high-quality sample drawn for class k (`labels`; without labels, of any high-quality sample). Returns
    within_modes (the mean over classes of that count, max the mean class size) and within_coverage (the share
    of all components so covered, %); the per-class counts are in the protocol."""
    class_of = _check_classes(class_of, mix)
    nearest, hq, threshold = _high_quality(samples, mix, threshold)
    if labels is not None:
        labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
        if labels.shape != nearest.shape:
            raise ModeganError(f"{len(labels)} labels for {len(nearest)} samples")
        own = hq & (class_of[nearest] == labels)
    else:
        own = hq
    hit = np.zeros(mix.n_modes, dtype=bool)
    hit[np.unique(nearest[own])] = True
    per_class = np.bincount(class_of, weights=hit.astype(np.float64), minlength=class_of.max() + 1)
    sizes = np.bincount(class_of)
    protocol = _class_protocol(len(nearest), mix, class_of, threshold, grouping, labels is not None) | {
        "per_class_modes": per_class.astype(int).tolist()}
    return (Metric("within_modes", float(per_class.mean()), protocol | {"unit": "modes", "max": float(sizes.mean())}),
            Metric("within_coverage", 100.0 * float(hit.mean()), protocol | {"unit": "%"}))


def conditional_accuracy(samples, labels, mix: GaussianMixture, class_of, threshold: float = 3.0,
                         grouping: str | None = None) -> Metric:
    """cond_acc: the share (0-1) of samples that are high quality and whose nearest component is of the class
    they were drawn for. Per class (in the protocol): that share, hqs (%) and the sample count."""
    class_of = _check_classes(class_of, mix)
    nearest, hq, threshold = _high_quality(samples, mix, threshold)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).astype(np.int64)
    if labels.shape != nearest.shape:
        raise ModeganError(f"{len(labels)} labels for {len(nearest)} samples")
    n_classes = int(class_of.max()) + 1
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ModeganError(f"labels must be classes 0..{n_classes - 1}")
    right = hq & (class_of[nearest] == labels)
    count = np.bincount(labels, minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.bincount(labels, weights=right, minlength=n_classes) / count
        hq_k = 100.0 * np.bincount(labels, weights=hq, minlength=n_classes) / count
    none = lambda a: [None if not np.isfinite(v) else float(v) for v in a]  # noqa: E731
    protocol = _class_protocol(len(nearest), mix, class_of, threshold, grouping, True) | {
        "unit": "fraction", "max": 1.0, "per_class_acc": none(acc), "per_class_hqs": none(hq_k),
        "per_class_samples": count.tolist(),
        "correct": "high quality, and the nearest component is of the sample's class"}
    return Metric("cond_acc", float(right.mean()), protocol)


def evaluate_toy(
    samples, dataset: ToyDataset, generator: torch.Generator, *, threshold: float = 3.0, labels=None
) -> dict[str, Metric]:
    """All toy metrics of generated samples: hqs, modes, rkl_modes, jsd_grid, tv_grid and w1 for a mixture;
    only w1 without one. w1 compares with len(samples) fresh real samples drawn with `generator`.
    A dataset with classes (data.classes) adds within_modes and within_coverage; `labels`, the classes a
    conditional generator drew the samples for, adds cond_acc."""
    x = _as_points(samples, "samples", dataset.dim)
    results: dict[str, Metric] = {}
    mix = dataset.mixture
    if mix is not None:
        results["hqs"] = hqs(x, mix, threshold)
        results["modes"] = modes(x, mix, threshold)
        results["rkl_modes"] = rkl_modes(x, mix, threshold)
        results["jsd_grid"] = jsd_grid(x, mix)
        results["tv_grid"] = tv_grid(x, mix)
    class_of = getattr(dataset, "class_of", None)
    if mix is not None and class_of is not None:
        grouping = dataset.classes
        if labels is not None:
            results["cond_acc"] = conditional_accuracy(x, labels, mix, class_of, threshold, grouping)
        results["within_modes"], results["within_coverage"] = within_class_modes(x, mix, class_of, labels,
                                                                                 threshold, grouping)
    real = dataset.sample_real(len(x), generator)
    distance = w1(x, real)
    real_protocol = {"real": f"{len(x)} fresh draws from {dataset.name}"}
    results["w1"] = Metric(distance.name, distance.value, distance.protocol | real_protocol)
    return results
