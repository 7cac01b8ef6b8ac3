"""The numba kernels behind DIWGAN's host-side step (weighting/cpu_kernels.py), against hand values and scipy."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from modegan.weighting.cpu_kernels import (
    euclidean_costs,
    kde_log_pdf,
    log_kernel_sums,
    record_distances,
    spread_ratio,
    target_weights,
    weighted_paired_distance,
)
from modegan.weighting.kde import bandwidth_factor


def test_euclidean_costs_by_hand_and_non_finite():
    targets = np.array([[0.0, 0.0], [3.0, 4.0]])
    codes = np.array([[0.0, 1.0], [3.0, 0.0], [6.0, 8.0]], np.float32)
    out = np.empty((2, 3))
    assert euclidean_costs(targets, codes, out)
    np.testing.assert_allclose(out, [[1.0, 3.0, 10.0], [math.sqrt(18.0), 4.0, 5.0]], rtol=1e-15)
    codes[1, 0] = np.nan
    assert not euclidean_costs(targets, codes, out)
    codes[1, 0] = np.inf
    assert not euclidean_costs(targets, codes, out)


@pytest.mark.parametrize("offset", [0.0, 6.0, 40.0])  # 40 sds away: every kernel value underflows float32
def test_log_kernel_sums_match_a_float64_logsumexp(offset):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(700, 3)).astype(np.float32)
    queries = (rng.normal(size=(50, 3)) * 1.5 + offset).astype(np.float32)
    out = np.empty(50, np.float32)
    log_kernel_sums(queries, np.ascontiguousarray(data.T), np.float32(2.5), out)
    sq = ((queries[:, None, :].astype(np.float64) - data[None].astype(np.float64)) ** 2).sum(-1)
    expected = logsumexp(-0.5 * sq, axis=1) - 2.5
    np.testing.assert_allclose(out, expected, rtol=2e-6, atol=2e-5)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_kde_log_pdf_matches_scipy(d):
    rng = np.random.default_rng(d)
    data = (rng.normal(size=(1200, d)) * np.arange(1, d + 1) + 3.0).astype(np.float32)
    queries = (rng.normal(size=(80, d)) * 2 + 3.0).astype(np.float32)
    out = np.empty(80, np.float32)
    assert kde_log_pdf(data, queries, bandwidth_factor(1200, d, "scott"), out)
    expected = gaussian_kde(data.T.astype(np.float64)).logpdf(queries.T.astype(np.float64))
    np.testing.assert_allclose(out, expected, atol=2e-5)


def test_kde_log_pdf_reports_a_singular_covariance():
    x = np.random.default_rng(0).normal(size=(500, 1))
    out = np.empty(4, np.float32)
    on_a_line = np.hstack([x, 2 * x + 1]).astype(np.float32)
    assert not kde_log_pdf(on_a_line, on_a_line[:4], 0.3, out)
    constant = np.hstack([x, np.ones_like(x)]).astype(np.float32)
    assert not kde_log_pdf(constant, constant[:4], 0.3, out)


def test_weighted_paired_distance_by_hand():
    targets = np.array([[0.0, 0.0], [3.0, 4.0]])
    codes = np.array([[0.0, 1.0], [3.0, 0.0], [9.0, 9.0]], np.float32)  # the third code is not paired
    rows, cols = np.array([0, 1]), np.array([0, 1])
    grad, dist = np.empty((3, 2)), np.empty(2)
    # uniform w_g (no density): distances 1 and 4, D_a = 2.5; gradient w·(code − target)/(dist·pairs)
    d_a, ess_gen = weighted_paired_distance(targets, codes, rows, cols, np.ones(2), np.empty(0), 0.0, grad, dist)
    assert d_a == pytest.approx(2.5) and ess_gen == pytest.approx(3.0)
    np.testing.assert_allclose(dist, [1.0, 4.0])
    np.testing.assert_allclose(grad, [[0.0, 0.5], [0.0, -0.5], [0.0, 0.0]])
    # w_g = 3·softmax(log density) = (0.5, 1.5, 1.0) for log densities (0, log 3, log 2); w_r = (2, 1)
    log_density = np.log([1.0, 3.0, 2.0])
    d_a, ess_gen = weighted_paired_distance(targets, codes, rows, cols, np.array([2.0, 1.0]), log_density, 0.0,
                                            grad, dist)
    assert d_a == pytest.approx((2 * 0.5 * 1 + 1 * 1.5 * 4) / 2)
    assert ess_gen == pytest.approx(9 / (0.25 + 2.25 + 1.0))
    np.testing.assert_allclose(grad, [[0.0, 0.5], [0.0, -0.75], [0.0, 0.0]])


def test_target_weights_by_hand_window_and_ema():
    # N = 4; target 0 has distances 1, 3 (window half full), target 1 has 4, 4, 4, 4, target 2 none yet.
    ring = np.array([[1.0, 3.0, 0.0, 0.0], [4.0, 4.0, 4.0, 4.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    count = np.array([2, 6, 0])
    out = np.empty(3)
    ess, above = target_weights(ring, np.zeros(3), count, 4, False, out)
    # d̄ = 2, 4, 0; mean over targets with history = 3; w = λ(d̄/3 − 1) + 1 with λ = 1/2, 1, 0
    raw = np.array([0.5 * (2 / 3 - 1) + 1, 4 / 3, 1.0])
    np.testing.assert_allclose(out, raw / raw.mean(), rtol=1e-12)
    assert ess == pytest.approx(out.sum() ** 2 / (out**2).sum()) and above == 1
    # EMA, decay 3/4: λ = 1 − (3/4)^c, d̄ = ema/λ
    ema = np.array([0.5, 2.0, 0.0])
    ess, above = target_weights(ring, ema, count, 4, True, out)
    lam = 1 - 0.75 ** count
    dbar = np.where(count > 0, ema / np.maximum(lam, 1e-30), 0.0)
    raw = lam * (dbar / (dbar.sum() / 2) - 1) + 1
    np.testing.assert_allclose(out, raw / raw.mean(), rtol=1e-12)
    ess, above = target_weights(ring, ema, np.zeros(3, np.int64), 4, False, out)  # no history: uniform
    np.testing.assert_array_equal(out, np.ones(3))
    assert (ess, above) == (3.0, 0)


def test_record_distances_paired_and_nearest_by_hand():
    cost = np.array([[1.0, 5.0], [2.0, 0.5], [3.0, 4.0]])
    ring, ema, count = np.zeros((3, 2), np.float32), np.zeros(3), np.array([1, 0, 3])
    record_distances(cost, np.array([0, 2]), np.array([1, 0]), False, ring, ema, count, 2, False)
    np.testing.assert_array_equal(ring, [[0.0, 5.0], [0.0, 0.0], [0.0, 3.0]])  # slot count % N
    np.testing.assert_array_equal(count, [2, 0, 4])
    record_distances(cost, np.array([0]), np.array([0]), True, ring, ema, count, 2, True)  # nearest, EMA
    np.testing.assert_allclose(ema, [0.5 * 1.0, 0.5 * 0.5, 0.5 * 3.0])
    np.testing.assert_array_equal(count, [3, 1, 5])


def test_spread_ratio_by_hand():
    targets = np.array([[-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])  # RMS radius 1
    codes = np.array([[5.0, 5.0], [5.2, 5.0]], np.float32)  # RMS radius 0.1
    assert spread_ratio(codes, targets) == pytest.approx(0.1, rel=1e-6)
    assert spread_ratio(targets, targets) == 1.0
