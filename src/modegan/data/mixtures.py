"""Gaussian mixtures: the built-in toy benchmarks (docs: benchmarks.md §1) and user YAML specs.

A mixture carries its exact means, covariances and weights, so the mode-coverage metrics need nothing
but the mixture itself. Definitions here are part of the benchmark: changing one changes every number.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import yaml

from modegan.errors import ModeganError, choice_error

MIXTURES = ("ring8", "grid25", "grid25-random", "cube27")

GRID25_RANDOM_SEED = 2019  # benchmarks.md §1: the constants of grid25-random come from default_rng(2019)


def _check_count(n: object, what: str = "n") -> int:
    """Sample counts must be positive ints; torch's own error for 0 or 2.5 is a raw traceback."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ModeganError(f"{what} must be a positive integer, got {n!r}")
    return int(n)


def _check_generator(generator: object) -> torch.Generator:
    """Every draw takes an explicit generator, so runs are reproducible and never touch global RNG."""
    if not isinstance(generator, torch.Generator):
        raise ModeganError(f"expected a torch.Generator, got {type(generator).__name__}")
    return generator


def _readonly(array: np.ndarray) -> np.ndarray:
    """A private read-only float64 copy, so a frozen mixture cannot be changed behind the metrics' cache."""
    out = np.array(array, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """A finite Gaussian mixture in R^d. Arrays are validated and stored read-only in float64."""

    name: str
    means: np.ndarray  # (K, d)
    covs: np.ndarray  # (K, d, d)
    weights: np.ndarray  # (K,), sums to 1

    def __post_init__(self) -> None:
        def as_array(value, what):
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise ModeganError(f"mixture {self.name!r}: {what} must be numeric arrays") from None
            if not np.all(np.isfinite(array)):
                raise ModeganError(f"mixture {self.name!r}: {what} contain NaN or Inf")
            return array

        means = as_array(self.means, "means")
        covs = as_array(self.covs, "covariances")
        weights = as_array(self.weights, "weights")
        if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
            raise ModeganError(f"mixture {self.name!r}: means must have shape (K, d), got {means.shape}")
        k, d = means.shape
        if covs.shape != (k, d, d):
            raise ModeganError(
                f"mixture {self.name!r}: covariances must have shape ({k}, {d}, {d}), got {covs.shape}"
            )
        if weights.shape != (k,):
            raise ModeganError(f"mixture {self.name!r}: weights must have shape ({k},), got {weights.shape}")
        if np.any(weights <= 0):
            raise ModeganError(f"mixture {self.name!r}: weights must be positive")
        if abs(weights.sum() - 1.0) > 1e-9:
            raise ModeganError(f"mixture {self.name!r}: weights must sum to 1, got {weights.sum():.12g}")
        scale = max(float(np.abs(covs).max()), 1e-300)
        asym = np.abs(covs - covs.transpose(0, 2, 1)).max(axis=(1, 2))
        if np.any(asym > 1e-10 * scale):
            bad = int(np.argmax(asym > 1e-10 * scale))
            raise ModeganError(f"mixture {self.name!r}: covariance of component {bad} is not symmetric")
        eigmin = np.linalg.eigvalsh(covs).min(axis=1)
        if np.any(eigmin <= 0):
            bad = int(np.argmax(eigmin <= 0))
            raise ModeganError(
                f"mixture {self.name!r}: covariance of component {bad} is not positive definite "
                f"(smallest eigenvalue {eigmin[bad]:.3g})"
            )
        try:
            np.linalg.cholesky(covs)
        except np.linalg.LinAlgError:
            raise ModeganError(f"mixture {self.name!r}: a covariance is numerically singular") from None
        object.__setattr__(self, "means", _readonly(means))
        object.__setattr__(self, "covs", _readonly(covs))
        object.__setattr__(self, "weights", _readonly(weights / weights.sum()))

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    @property
    def n_modes(self) -> int:
        return int(self.means.shape[0])

    @cached_property
    def chol(self) -> np.ndarray:
        """Lower Cholesky factors L_k with cov_k = L_k L_kᵀ, shape (K, d, d)."""
        return _readonly(np.linalg.cholesky(self.covs))

    @cached_property
    def inv_chol(self) -> np.ndarray:
        """L_k⁻¹: the Mahalanobis distance of x to component k is ‖L_k⁻¹ (x − μ_k)‖."""
        return _readonly(np.linalg.inv(self.chol))

    @cached_property
    def _torch_params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.tensor(np.array(self.weights)),
            torch.tensor(np.array(self.means)),
            torch.tensor(np.array(self.chol)),
        )

    def sample_with_labels(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n points (float32) and their component indices (long).

        Draw order (fixed, so a seed always gives the same points): all n component indices with
        probabilities = weights, then an (n, d) standard normal block; point = μ_c + L_c z.
        """
        points, labels = self._sample64(n, generator)
        return points.to(torch.float32), labels

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n points, float32, shape (n, d)."""
        return self.sample_with_labels(n, generator)[0]

    def _sample64(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Float64 draws: the Monte Carlo true mass for jsd_grid bins these without rounding to float32."""
        n = _check_count(n)
        generator = _check_generator(generator)
        weights, means, chol = self._torch_params
        labels = torch.multinomial(weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        points = torch.empty(n, self.dim, dtype=torch.float64)
        chunk = 65_536  # bounds the (chunk, d, d) gathered factors, e.g. for the 1e6 draws of jsd_grid
        for start in range(0, n, chunk):
            lab, z_chunk = labels[start : start + chunk], z[start : start + chunk]
            points[start : start + chunk] = means[lab] + (chol[lab] @ z_chunk[:, :, None])[..., 0]
        return points, labels


def _isotropic(name: str, means: np.ndarray, std: float) -> GaussianMixture:
    k, d = means.shape
    covs = np.broadcast_to(std**2 * np.eye(d), (k, d, d))
    return GaussianMixture(name, means, covs, np.full(k, 1.0 / k))


def _ring8() -> GaussianMixture:
    angles = 2 * np.pi * np.arange(8) / 8
    return _isotropic("ring8", np.stack([np.cos(angles), np.sin(angles)], axis=1), 0.01)


def _grid25() -> GaussianMixture:
    values = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    means = np.array([(i, j) for i in values for j in values])
    return _isotropic("grid25", means, 0.05)


def _cube27() -> GaussianMixture:
    values = np.array([-2.0, 0.0, 2.0])
    means = np.array([(i, j, k) for i in values for j in values for k in values])
    return _isotropic("cube27", means, 0.05)


def _grid25_random() -> GaussianMixture:
    """benchmarks.md §1, to the letter: the draw order below IS the definition of the benchmark."""
    rng = np.random.default_rng(GRID25_RANDOM_SEED)
    means: list[np.ndarray] = []
    while len(means) < 25:
        candidate = rng.uniform(-4, 4, size=2)
        if all(np.linalg.norm(candidate - m) >= 1.0 for m in means):
            means.append(candidate)
    covs = []
    for _ in range(25):
        angle = rng.uniform(0, np.pi)
        s = rng.uniform(0.02, 0.08, size=2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        covs.append(rot @ np.diag(s**2) @ rot.T)
    covs = np.array(covs)
    # R D Rᵀ is symmetric only up to rounding; symmetrise exactly (changes entries by ~1e-19).
    covs = (covs + covs.transpose(0, 2, 1)) / 2
    return GaussianMixture("grid25-random", np.array(means), covs, np.full(25, 1.0 / 25))


_BUILDERS = {"ring8": _ring8, "grid25": _grid25, "grid25-random": _grid25_random, "cube27": _cube27}


@functools.cache
def mixture(name: str) -> GaussianMixture:
    """A built-in mixture by name (cached: the mixtures are immutable)."""
    if name == "swissroll":
        raise ModeganError("'swissroll' has no modes, so it is not a mixture; load it with load_dataset")
    if name not in _BUILDERS:
        raise choice_error("mixture", name, MIXTURES)
    return _BUILDERS[name]()


# ---------------------------------------------------------------------------------------------------------
# User YAML mixture specs

SPEC_KEYS = ("name", "means", "covariances", "stds", "weights")


def _numeric_nested(value: object) -> bool:
    """True for a number or (nested) lists of numbers; YAML strings and booleans are not numbers here."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Real):
        return True
    if isinstance(value, list):
        return all(_numeric_nested(v) for v in value)
    return False


def _spec_array(spec: dict, key: str, path: str) -> np.ndarray:
    value = spec[key]
    if not _numeric_nested(value):
        raise ModeganError(f"{path}: '{key}' must be a number or (nested) list of numbers")
    try:
        array = np.array(value, dtype=np.float64)
    except ValueError:
        raise ModeganError(f"{path}: '{key}' is ragged (rows of different lengths)") from None
    if not np.all(np.isfinite(array)):
        raise ModeganError(f"{path}: '{key}' contains NaN or Inf")
    return array


def load_mixture_spec(path: str | Path) -> GaussianMixture:
    """Read a mixture from YAML: `means` (K×d), `covariances` (K×d×d) or `stds` (one number or K numbers,
    isotropic), optional `weights` (K positive numbers, normalised; default uniform) and `name`.

    Exactly one of `covariances` / `stds` is required: a default width would silently set the HQ radius.
    """
    path = str(path)
    if not Path(path).is_file():
        raise ModeganError(f"mixture spec not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            spec = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise ModeganError(f"{path}: cannot read mixture spec ({e.__class__.__name__})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ModeganError(f"{path}: invalid YAML{where}") from None
    if spec is None:
        raise ModeganError(f"{path}: empty mixture spec")
    if not isinstance(spec, dict):
        raise ModeganError(f"{path}: a mixture spec must be a mapping with keys {', '.join(SPEC_KEYS)}")
    unknown = [str(key) for key in spec if key not in SPEC_KEYS]
    if unknown:
        allowed = ", ".join(SPEC_KEYS)
        raise ModeganError(f"{path}: unknown key {unknown[0]!r} in mixture spec; allowed: {allowed}")
    if "means" not in spec:
        raise ModeganError(f"{path}: mixture spec needs 'means' (a K×d list)")
    if ("covariances" in spec) == ("stds" in spec):
        raise ModeganError(f"{path}: mixture spec needs exactly one of 'covariances' or 'stds'")

    means = _spec_array(spec, "means", path)
    if means.ndim != 2 or means.shape[0] < 1 or means.shape[1] < 1:
        raise ModeganError(f"{path}: 'means' must be a non-empty K×d list of lists, got shape {means.shape}")
    k, d = means.shape
    if "covariances" in spec:
        covs = _spec_array(spec, "covariances", path)
        if covs.shape != (k, d, d):
            raise ModeganError(f"{path}: 'covariances' must have shape {k}×{d}×{d}, got {covs.shape}")
    else:
        stds = _spec_array(spec, "stds", path)
        if stds.ndim == 0:
            stds = np.full(k, float(stds))
        if stds.shape != (k,):
            raise ModeganError(f"{path}: 'stds' must be one number or {k} numbers, got shape {stds.shape}")
        if np.any(stds <= 0):
            raise ModeganError(f"{path}: 'stds' must be positive")
        covs = stds[:, None, None] ** 2 * np.eye(d)
    if "weights" in spec:
        weights = _spec_array(spec, "weights", path)
        if weights.shape != (k,):
            raise ModeganError(f"{path}: 'weights' must be {k} numbers, got shape {weights.shape}")
        if np.any(weights <= 0):
            raise ModeganError(f"{path}: 'weights' must be positive")
        weights = weights / weights.sum()
    else:
        weights = np.full(k, 1.0 / k)
    name = spec.get("name", path)
    if not isinstance(name, str) or not name:
        raise ModeganError(f"{path}: 'name' must be a non-empty string")
    try:
        return GaussianMixture(name, means, covs, weights)
    except ModeganError as e:
        raise ModeganError(f"{path}: {e}") from None


def pairwise_min_distance(means: np.ndarray) -> float:
    """Smallest Euclidean distance between two distinct rows (inf for a single row)."""
    if len(means) < 2:
        return math.inf
    diff = means[:, None, :] - means[None, :, :]
    dist = np.sqrt((diff**2).sum(-1))
    return float(dist[np.triu_indices(len(means), k=1)].min())


# ---------------------------------------------------------------------------------------------------------
# Classes: labels that group a mixture's components (data.classes; docs/methods.md §10)


def component_classes(mix: GaussianMixture, classes: str) -> np.ndarray:
    """The class of each component, shape (K,), classes numbered 0..C-1 with none empty.

    components: the component index itself. rows / columns: components with the same second / first
    coordinate (rounded to 1e-6) share a class, numbered by increasing coordinate (grid25: 5 rows of 5 modes,
    row 0 at y = -4). N: N blocks of consecutive components, class floor(k N / K) (ring8 with 2: two half rings).
    """
    k = mix.n_modes
    if classes == "components":
        return np.arange(k)
    if classes in ("rows", "columns"):
        axis = 1 if classes == "rows" else 0
        if mix.dim < 2:
            raise ModeganError(f"data.classes={classes} needs data of dimension >= 2; {mix.name} is 1-D")
        _, out = np.unique(np.round(mix.means[:, axis], 6), return_inverse=True)
        n = int(out.max()) + 1
        if n in (1, k):
            raise ModeganError(f"data.classes={classes}: the components of {mix.name} do not lie in {classes} "
                               f"(they form {n} {classes} of {k} components); allowed here: components, a number N")
        return out.reshape(-1)
    try:
        n = int(classes)
    except ValueError:
        raise ModeganError(f"data.classes: {classes!r} is not allowed; allowed: components, rows, columns, "
                           "a positive integer N") from None
    if not 1 <= n <= k:
        raise ModeganError(f"data.classes={n}: {mix.name} has {k} components, so N must be in [1, {k}]")
    return np.arange(k) * n // k
