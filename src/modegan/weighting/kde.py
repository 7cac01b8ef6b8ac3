"""A Gaussian kernel density estimate in torch that reproduces `scipy.stats.gaussian_kde`.

DIWGAN fits one KDE on the encoded training set (targets) and one per step on the recent generated codes
(methods.md §3.2 steps 2 and 5c); this class is the first, and the reference the per-step one
(`cpu_kernels.kde_log_pdf`, fitted and evaluated in DIWGAN's pairing thread) is tested against.
A2 resolves the unspecified kernel and bandwidth as scipy's: a Gaussian
kernel whose covariance is the data covariance (unbiased, as np.cov) times factor², the factor from Scott's
or Silverman's rule or given directly. Evaluation whitens with the Cholesky factor of the kernel
covariance, then takes squared distances and a logsumexp, so it is stable far from the data and runs on
any device. Centring before whitening keeps the expanded squared distances from cancelling badly.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import Tensor

from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError, choice_error

BW_RULES = ("scott", "silverman")
CHUNK_ENTRIES = 1 << 18


def _logsumexp_rows_(k: Tensor) -> Tensor:
    """logsumexp over dim 1, overwriting `k`: the same shift-by-the-row-maximum as `torch.logsumexp`, but in
    place, so the block is read and written a few times instead of allocating temporaries."""
    top = k.amax(1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    k.sub_(top)
    return _exp_(k).sum(1).log_().add_(top.squeeze(1))


def _exp_(k: Tensor) -> Tensor:
    """exp in place; numpy's vectorised exp is about 2x torch's on these CPUs (k never carries a graph:
    log_pdf detaches its inputs)."""
    if k.device.type == "cpu" and k.is_contiguous():
        np.exp(k.numpy(), out=k.numpy())
    else:
        k.exp_()
    return k


class SingularCovarianceError(ModeganError):
    """The KDE data covariance has no Cholesky factor (points on a lower-dimensional set, or n <= d)."""


def bandwidth_factor(n: int, d: int, method: str | float = "scott") -> float:
    """The kernel's scale relative to the data's standard deviation (scipy's `covariance_factor`)."""
    if isinstance(method, str):
        if method == "scott":
            return n ** (-1.0 / (d + 4))
        if method == "silverman":
            return (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        raise choice_error("KDE bandwidth", method, (*BW_RULES, "a positive number"))
    if isinstance(method, bool) or not isinstance(method, numbers.Real) or not math.isfinite(method) or method <= 0:
        raise ModeganError(f"KDE bandwidth must be 'scott', 'silverman' or a positive number, got {method!r}")
    return float(method)


class GaussianKDE:
    """Gaussian KDE over the rows of `data` (n, d); computations in `dtype` (float64: matches scipy to ~1e-12).

    A singular data covariance (n <= d, or all points on a lower-dimensional set such as one coordinate
    constant) raises ModeganError rather than adding jitter: scipy fails there too, and a silently
    regularised density would hide a degenerate input. The error is a `SingularCovarianceError`, so callers
    that can carry on without a density (DIWGAN's generator weights) catch exactly this case.
    """

    def __init__(self, data: Tensor, bw_method: str | float = "scott", *, dtype: torch.dtype = torch.float64):
        if not isinstance(data, Tensor) or data.dim() != 2 or data.shape[0] < 2 or data.shape[1] < 1:
            shape = tuple(data.shape) if isinstance(data, Tensor) else type(data).__name__
            raise ModeganError(f"KDE data must be a 2-D tensor (n, d) with n >= 2 points, got {shape}")
        x = data.detach().to(dtype)
        if not bool(torch.isfinite(x).all()):
            raise ModeganError("KDE data contain NaN or infinite values")
        n, d = x.shape
        self.n, self.d, self.dtype = n, d, dtype
        self.data_dtype = data.dtype if data.is_floating_point() else torch.float32
        self.factor = bandwidth_factor(n, d, bw_method)
        self.mean = x.mean(0)
        centred = x - self.mean
        self.data_covariance = centred.T @ centred / (n - 1)
        self.covariance = self.data_covariance * self.factor**2
        chol, info = torch.linalg.cholesky_ex(self.covariance)
        if int(info) != 0 or not bool(torch.isfinite(chol).all()):
            raise SingularCovarianceError(
                f"KDE covariance of {n} points in {d}-D is singular (points lie on a lower-dimensional set)"
            )
        self.cholesky = chol
        self._data = x
        white = self._whiten(x)
        half_sq = -0.5 * (white * white).sum(1, keepdim=True)
        # [x, -½‖x‖², 1] per whitened data point: its product with a query's [y, 1, -½‖y‖²] is -½‖y − x‖²
        self._augmented = torch.cat([white, half_sq, torch.ones_like(half_sq)], 1)
        self._log_norm = math.log(n) + 0.5 * d * math.log(2 * math.pi) + float(torch.log(torch.diagonal(chol)).sum())

    def _whiten(self, x: Tensor) -> Tensor:
        """L⁻¹(x - mean) row-wise, so that kernel Mahalanobis distances become Euclidean."""
        return torch.linalg.solve_triangular(self.cholesky, (x - self.mean).T, upper=False).T

    def log_pdf(self, points: Tensor) -> Tensor:
        """log p̂(x) for each row of `points` (m, d), in `dtype`."""
        if not isinstance(points, Tensor) or points.dim() != 2 or points.shape[1] != self.d:
            shape = tuple(points.shape) if isinstance(points, Tensor) else type(points).__name__
            raise ModeganError(f"KDE points must have shape (m, {self.d}), got {shape}")
        y = self._whiten(points.detach().to(device=self._data.device, dtype=self.dtype))
        half_sq = -0.5 * (y * y).sum(1, keepdim=True)
        queries = torch.cat([y, torch.ones_like(half_sq), half_sq], 1)
        # Kernel values for chunks of about 2¹⁸ (query, point) pairs, which stay in cache (3x faster than one
        # (m, n) block at m = 1024, n = 10,240). Each exponent -½‖y − x‖² is at most 0, so the sums are
        # taken without the usual shift by the row maximum (which costs two more passes over the block);
        # rows whose sum is too small to keep full precision (every point more than about 12 kernel
        # standard deviations away in float32, 37 in float64) are redone with the shift.
        info = torch.finfo(self.dtype)
        rows = max(1, CHUNK_ENTRIES // self.n)
        sums = torch.cat([_exp_(q @ self._augmented.T).sum(1) for q in queries.split(rows)])
        far = (sums < info.tiny / info.eps).nonzero().squeeze(1)
        out = sums.log_()
        if len(far):
            out[far] = _logsumexp_rows_(queries[far] @ self._augmented.T)
        return out - self._log_norm

    def pdf(self, points: Tensor) -> Tensor:
        return self.log_pdf(points).exp()

    def resample(self, m: int, generator: torch.Generator) -> Tensor:
        """m draws from the KDE: a data point chosen uniformly plus N(0, kernel covariance) noise.
        Returned in the dtype of the data the KDE was built from."""
        m = _check_count(m, "number of KDE samples")
        generator = _check_generator(generator)
        dev = self._data.device
        index = torch.randint(self.n, (m,), generator=generator, device=generator.device).to(dev)
        noise = torch.randn(m, self.d, generator=generator, device=generator.device, dtype=self.dtype).to(dev)
        return (self._data[index] + noise @ self.cholesky.T).to(self.data_dtype)
