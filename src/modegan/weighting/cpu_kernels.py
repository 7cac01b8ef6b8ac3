"""Numba kernels for DIWGAN's host-side step.

DIWGAN's pairing thread runs the whole step beside the critic's (costs, KDE, D_a, target weights, history),
so every kernel here releases the GIL (nogil) and is cached on disk (cache=True).

The KDE of the last N·B generated codes (methods.md §3.2 5c) is 256 x 2,560 Gaussian kernel values a step at
the default sizes. As separate array operations (product, exp, sum) each pass
streams a megabyte block through memory; fused, a query's squared distances stay in L1 and the exponentials
are vectorised. exp is computed as 2ᵏ·p(f) with p the degree-6 Taylor polynomial of 2^f on |f| ≤ ½ (relative
error below 2e-7, float32's own rounding), because numba otherwise calls the scalar libm exp per element.
Measured on the 2-core test machine: 0.23 ms against 0.65 ms for the torch path (benchmarks/step_speed.py).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# reassociation lets the sums vectorise; no "nnan"/"ninf": NaN codes must still give NaN densities
_FASTMATH = {"reassoc", "contract", "nsz", "arcp", "afn"}
_MINUS_HALF_LOG2E = np.float32(-0.5 / math.log(2.0))
_LN2 = np.float32(math.log(2.0))
# below this a row's sum has lost precision to underflow: the row is summed again shifted by its largest term
_SMALL_SUM = np.float32(np.finfo(np.float32).tiny / np.finfo(np.float32).eps)


@intrinsic
def _float32_from_bits(typingctx, bits):
    """Reinterpret an int32 as float32 (the exponent field of 2ᵏ), which numba has no scalar form of."""

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@njit(fastmath=_FASTMATH, error_model="numpy", boundscheck=False, cache=True, nogil=True)
def _exp_minus_half(sq):
    """exp(-sq/2) for sq >= 0 in float32; 0 where it is below the smallest normal float."""
    t = max(sq * _MINUS_HALF_LOG2E, np.float32(-126.5))
    k = np.int32(t - np.float32(0.5))  # t <= 0, so truncation rounds to nearest: |t - k| <= 1/2
    f = (t - np.float32(k)) * _LN2
    p = np.float32(1.0) + f * (np.float32(1.0) + f * (np.float32(1 / 2) + f * (np.float32(1 / 6) + f * (
        np.float32(1 / 24) + f * (np.float32(1 / 120) + f * np.float32(1 / 720))))))
    return p * _float32_from_bits((k + np.int32(127)) << 23)


@njit(fastmath=_FASTMATH, error_model="numpy", boundscheck=False, cache=True, nogil=True)
def log_kernel_sums(queries, data_t, log_norm, out):
    """out[i] = log Σⱼ exp(-½‖queries[i] − data_t[:, j]‖²) − log_norm, all float32.

    `queries` (m, d) and `data_t` (d, n, C-contiguous) are whitened. Squared distances are accumulated one
    coordinate at a time (no ‖y‖² + ‖x‖² − 2y·x cancellation), and the last coordinate's pass also sums the
    exponentials. Rows whose sum underflows are summed again relative to their nearest point, as a logsumexp.
    """
    m, d = queries.shape
    n = data_t.shape[1]
    sq = np.zeros(n, np.float32)
    for i in range(m):
        for c in range(d - 1):
            yc = queries[i, c]
            for j in range(n):
                u = yc - data_t[c, j]
                sq[j] = u * u if c == 0 else sq[j] + u * u
        last = queries[i, d - 1]
        total = np.float32(0.0)
        for j in range(n):
            u = last - data_t[d - 1, j]
            s = sq[j] + u * u if d > 1 else u * u
            sq[j] = s
            total += _exp_minus_half(s)
        nearest = np.float32(0.0)
        if total < _SMALL_SUM:
            nearest = sq[0]
            for j in range(n):
                nearest = min(nearest, sq[j])
            total = np.float32(0.0)
            for j in range(n):
                total += _exp_minus_half(sq[j] - nearest)
        out[i] = math.log(total) - np.float32(0.5) * nearest - log_norm


@njit(fastmath=_FASTMATH, error_model="numpy", boundscheck=False, cache=True, nogil=True)
def euclidean_costs(targets, codes, out):
    """out[r, c] = ‖targets[r] − codes[c]‖ in float64 (the pairing's cost matrix, A8); False if any is not finite.
    One call without the GIL, so a pairing thread computing it does not trade the GIL with the trainer."""
    m, d = targets.shape
    b = codes.shape[0]
    codes_t = np.empty((d, b))
    for c in range(b):
        for k in range(d):
            codes_t[k, c] = codes[c, k]
    total = 0.0  # NaN or inf anywhere makes the total non-finite
    for r in range(m):
        row = out[r]
        row[:] = 0.0
        for k in range(d):
            t = targets[r, k]
            for c in range(b):
                u = t - codes_t[k, c]
                row[c] += u * u
        for c in range(b):
            row[c] = math.sqrt(row[c])
            total += row[c]
    return math.isfinite(total)


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def kde_log_pdf(data, queries, factor, out):
    """`GaussianKDE(data, factor).log_pdf(queries)` into `out` (float32), fitting and evaluating in one call.

    scipy's kernel (A2): covariance = the unbiased data covariance x factor²; its Cholesky factor L whitens
    data and queries, L⁻¹(x − mean). The fit is in float64, the kernel sums in float32. Returns False, and
    leaves `out` unset, when the covariance has no Cholesky factor (the points lie on a lower-dimensional set).
    DIWGAN's pairing thread calls this for the generator weights: fit and evaluation hold no GIL.
    """
    n, d = data.shape
    mean = np.zeros(d)
    for i in range(n):
        for c in range(d):
            mean[c] += data[i, c]
    mean /= n
    cov = np.zeros((d, d))
    for i in range(n):
        for a in range(d):
            u = data[i, a] - mean[a]
            for b in range(a + 1):
                cov[a, b] += u * (data[i, b] - mean[b])
    chol = np.zeros((d, d))
    scale = factor * factor / (n - 1)
    log_det_half = 0.0
    for a in range(d):  # Cholesky–Banachiewicz on the lower triangle
        for b in range(a + 1):
            s = cov[a, b] * scale
            for c in range(b):
                s -= chol[a, c] * chol[b, c]
            if a == b:  # a pivot lost to rounding (relative 1e-10) is a singular covariance, as scipy would find
                if not s > 1e-10 * cov[a, a] * scale or not math.isfinite(s):
                    return False
                chol[a, a] = math.sqrt(s)
                log_det_half += math.log(chol[a, a])
            else:
                chol[a, b] = s / chol[b, b]
    white_t = np.empty((d, n), np.float32)
    row = np.empty(d)
    for i in range(n):
        _whiten_row(data[i], mean, chol, row)
        for c in range(d):
            white_t[c, i] = row[c]
    m = queries.shape[0]
    white_q = np.empty((m, d), np.float32)
    for i in range(m):
        _whiten_row(queries[i], mean, chol, row)
        for c in range(d):
            white_q[i, c] = row[c]
    log_norm = math.log(n) + 0.5 * d * math.log(2 * math.pi) + log_det_half
    log_kernel_sums(white_q, white_t, np.float32(log_norm), out)
    return True


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def _whiten_row(x, mean, chol, out):
    """out = L⁻¹(x − mean) by forward substitution."""
    for a in range(len(out)):
        s = x[a] - mean[a]
        for c in range(a):
            s -= chol[a, c] * out[c]
        out[a] = s / chol[a, a]


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def weighted_paired_distance(targets, codes, rows, cols, w_r, log_density, eps, grad, dist):
    """DIWGAN's D_a (A7) and its gradient, for the pairs (rows[p], cols[p]), in float64.

    w_g = B·softmax(log_density) (uniform when `log_density` is empty); each pair's weight is w_r[r]·w_g[c];
    D_a = mean over pairs of weight·sqrt(‖targets[r] − codes[c]‖² + eps). Fills `grad` (B, k) with ∂D_a/∂codes
    (0 for unpaired columns) and `dist` with the pairs' distances; returns (D_a, ESS of w_g).
    """
    b, k = codes.shape
    w_g = np.ones(b)
    if len(log_density) == b:
        top = log_density.max()
        total = 0.0
        for c in range(b):
            w_g[c] = math.exp(log_density[c] - top)
            total += w_g[c]
        w_g *= b / total
    pairs = len(rows)
    value = 0.0
    grad[:] = 0.0
    for p in range(pairs):
        r, c = rows[p], cols[p]
        s = 0.0
        for j in range(k):
            u = codes[c, j] - targets[r, j]
            s += u * u
        dist[p] = math.sqrt(s + eps)
        w = w_r[r] * w_g[c]
        value += w * dist[p]
        for j in range(k):
            grad[c, j] = w * (codes[c, j] - targets[r, j]) / (dist[p] * pairs)
    return value / pairs, w_g.sum() ** 2 / (w_g * w_g).sum()


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def target_weights(ring, ema_values, count, n, ema, out):
    """DIWGAN's w_r (`DualImportanceLoss.target_weights`) into `out` (float64) from the distance history;
    returns (ESS of w_r, number of targets weighted above the mean). One call without the GIL: as numpy
    array operations in the pairing thread, this bookkeeping held the GIL long enough to slow the critic step
    running beside it by a fifth."""
    m = len(count)
    lam = np.empty(m)  # the filled fraction of each target's window (1 − decayᶜ for the EMA)
    mean_d, seen = 0.0, 0
    for r in range(m):
        if ema:
            lam[r] = 1.0 - (1.0 - 1.0 / n) ** count[r]
            dbar = ema_values[r] / max(lam[r], 1e-30)  # 0 without history: the EMA starts at 0
        else:
            filled = min(count[r], n)
            lam[r] = filled / n
            dbar = 0.0
            for j in range(n):  # unfilled slots hold 0
                dbar += ring[r, j]
            dbar /= max(filled, 1)
        out[r] = dbar
        mean_d += dbar
        seen += count[r] > 0
    mean_d /= max(seen, 1)
    if not mean_d > 0:  # no history yet, or every distance 0: every target is as well covered
        out[:] = 1.0
        return float(m), 0
    total = 0.0
    for r in range(m):
        out[r] = lam[r] * (out[r] / mean_d - 1.0) + 1.0
        total += out[r]
    out *= m / total
    total, squares, above = out.sum(), 0.0, 0
    for r in range(m):
        squares += out[r] * out[r]
        above += out[r] > total / m
    return total * total / squares, above


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def record_distances(cost, rows, cols, nearest, ring, ema_values, count, n, ema):
    """Append this step's target distances to the history (§3.2 5e): each paired target's distance cost[r, c]
    or, with `nearest`, every target's distance to its nearest generated sample (A6)."""
    decay = 1.0 - 1.0 / n
    for p in range(cost.shape[0] if nearest else len(rows)):
        if nearest:
            r, d = p, cost[p].min()
        else:
            r, d = rows[p], cost[rows[p], cols[p]]
        if ema:
            ema_values[r] = decay * ema_values[r] + (1.0 - decay) * d
        else:
            ring[r, count[r] % n] = d
        count[r] += 1


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def spread_ratio(codes, targets):
    """RMS distance of the codes from their mean over that of the targets: near 0 for a collapsed generator,
    near 1 once its codes spread over the targets' range. DIWGAN's pairing picks its solver by it."""
    return _rms_radius(codes) / max(_rms_radius(targets), 1e-300)


@njit(error_model="numpy", boundscheck=False, cache=True, nogil=True)
def _rms_radius(x):
    n, d = x.shape
    total = 0.0
    for k in range(d):
        mean = 0.0
        for i in range(n):
            mean += x[i, k]
        mean /= n
        for i in range(n):
            total += (x[i, k] - mean) ** 2
    return math.sqrt(total / n)
