"""The numba kernels behind DIWGAN's host-side step (weighting/cpu_kernels.py), against hand values and scipy."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import gaussian_kde

from modegan.weighting.cpu_kernels import euclidean_costs, kde_log_pdf, log_kernel_sums, weighted_paired_distance
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
