"""Toy metrics (benchmarks.md §2) on constructed sample sets with hand-computed expectations."""

import json
import math

import numpy as np
import pytest
import torch
from scipy.special import ndtr

from modegan.data import GaussianMixture, load_dataset, mixture
from modegan.errors import ModeganError
from modegan.metrics import (
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

LN2 = math.log(2)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def single_cell_jsd(p: float) -> float:
    """JSD when every sample falls in one cell whose true mass is p (derived by hand):
    M = P/2 off that cell and (p + 1)/2 on it, so
    KL(P‖M) = (1 − p) ln 2 + p ln(2p/(p + 1)),  KL(Q‖M) = ln(2/(1 + p)),  JSD = ½ (sum of both)."""
    kl_p = (1 - p) * LN2 + (p * math.log(2 * p / (p + 1)) if p > 0 else 0.0)
    kl_q = math.log(2 / (1 + p))
    return 0.5 * (kl_p + kl_q)


# ---------------------------------------------------------------------------------------------------------
# hqs, modes, rkl_modes


def test_all_samples_at_one_mean():
    mix = mixture("grid25")
    x = np.tile(mix.means[7], (100, 1))
    assert hqs(x, mix).value == 100.0
    assert modes(x, mix).value == 1
    assert rkl_modes(x, mix).value == pytest.approx(math.log(25), rel=1e-12)


def test_samples_at_every_mean_equally():
    mix = mixture("cube27")
    x = torch.tensor(np.repeat(mix.means, 3, axis=0), dtype=torch.float32)  # torch input works too
    assert hqs(x, mix).value == 100.0
    assert modes(x, mix).value == 27
    assert rkl_modes(x, mix).value == pytest.approx(0.0, abs=1e-12)


def test_rkl_modes_hand_computed_unbalanced():
    # 3 of 4 HQ samples in mode 0, 1 in mode 1, plus one sample far away (not HQ, ignored):
    # p̂ = (3/4, 1/4, 0, ...) over K = 8: KL = 3/4 ln(8·3/4) + 1/4 ln(8/4).
    mix = mixture("ring8")
    x = np.vstack([np.tile(mix.means[0], (3, 1)), mix.means[1], [[5.0, 5.0]]])
    assert rkl_modes(x, mix).value == pytest.approx(0.75 * math.log(6) + 0.25 * math.log(2), rel=1e-12)
    assert rkl_modes(x, mix).protocol["n_high_quality"] == 4
    assert hqs(x, mix).value == pytest.approx(80.0)
    assert modes(x, mix).value == 2


def test_samples_far_away():
    mix = mixture("grid25")
    x = np.full((10, 2), 100.0)
    assert hqs(x, mix).value == 0.0
    assert modes(x, mix).value == 0
    metric = rkl_modes(x, mix)
    assert math.isnan(metric.value)
    assert metric.protocol["note"] == "undefined: no high-quality sample"


def test_threshold_boundary_isotropic():
    mix = mixture("grid25")  # std 0.05
    centre = np.array([2.0, -4.0])
    diagonal = np.array([1.0, 1.0]) / math.sqrt(2)
    inside = [centre + [2.9 * 0.05, 0], centre + 2.9 * 0.05 * diagonal]
    outside = [centre + [0, -3.1 * 0.05], centre - 3.1 * 0.05 * diagonal]
    assert hqs(np.array(inside), mix).value == 100.0
    assert hqs(np.array(outside), mix).value == 0.0
    assert hqs(np.array(inside + outside), mix).value == 50.0
    # A different threshold moves the boundary: at threshold 3.2 all four count.
    assert hqs(np.array(inside + outside), mix, threshold=3.2).value == 100.0
    assert hqs(np.array(inside + outside), mix, threshold=3.2).protocol["threshold"] == 3.2


def test_anisotropic_mode_uses_mahalanobis_distance():
    # std 1 along the long axis (45°), 0.1 along the short axis.
    angle = math.pi / 4
    r = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    cov = r @ np.diag([1.0, 0.01]) @ r.T
    mix = GaussianMixture("aniso", np.zeros((1, 2)), cov[None], np.ones(1))
    long_axis, short_axis = r[:, 0], r[:, 1]
    x = np.array([2.5 * long_axis, 0.35 * short_axis])  # Mahalanobis 2.5 (HQ) and 3.5 (not HQ)
    _, dist = nearest_component(x, mix)
    np.testing.assert_allclose(dist, [2.5, 3.5], rtol=1e-12)
    assert hqs(x[:1], mix).value == 100.0  # 25 short-axis stds away, but within 3 Mahalanobis
    assert hqs(x[1:], mix).value == 0.0  # only 0.35 away in Euclidean distance, yet 3.5 Mahalanobis


def test_nearest_component_is_nearest_by_mahalanobis_not_euclid():
    # A: wide (std 1) at 0; B: narrow (std 0.1) at 1.5. The point 1.1 is Euclidean-closer to B (0.4 vs
    # 1.1) but Mahalanobis-closer to A (1.1 vs 4.0), and HQ for A.
    mix = GaussianMixture("ab", np.array([[0.0], [1.5]]), np.array([[[1.0]], [[0.01]]]), np.array([0.5, 0.5]))
    nearest, dist = nearest_component(np.array([[1.1], [1.45]]), mix)
    np.testing.assert_array_equal(nearest, [0, 1])
    np.testing.assert_allclose(dist, [1.1, 0.5], rtol=1e-12)
    assert modes(np.array([[1.1], [1.1]]), mix).value == 1


def test_nearest_component_distance_for_rotated_covariance():
    mix = mixture("grid25-random")
    z = np.array([[1.2, -1.6], [0.0, 2.0], [-2.0, 0.0]])  # ‖z‖ = 2
    x = mix.means[[3, 10, 24]] + np.einsum("nij,nj->ni", mix.chol[[3, 10, 24]], z)
    nearest, dist = nearest_component(x, mix)
    np.testing.assert_array_equal(nearest, [3, 10, 24])
    np.testing.assert_allclose(dist, 2.0, rtol=1e-10)


def test_hq_fraction_of_true_samples_matches_chi_square():
    # For a d-dimensional Gaussian, P(Mahalanobis < 3) = P(χ²_d < 9): 1 − e^{−4.5} = 0.98889 in 2-D.
    mix = mixture("grid25-random")
    value = hqs(mix.sample(20_000, gen(1)), mix).value
    assert abs(value - 100 * (1 - math.exp(-4.5))) < 0.3  # sd ≈ 0.07


def test_hq_protocol_records_the_rules():
    metric = hqs(np.zeros((4, 2)), mixture("grid25"))
    assert isinstance(metric, Metric) and metric.name == "hqs"
    p = metric.protocol
    assert (p["n_samples"], p["threshold"], p["distance"], p["unit"]) == (4, 3.0, "mahalanobis", "%")
    assert rkl_modes(np.zeros((4, 2)), mixture("grid25")).protocol["log_base"] == "e"


# ---------------------------------------------------------------------------------------------------------
# jsd_grid


def two_mode_1d() -> GaussianMixture:
    """Means 0 and 2, std 0.1: h = 1, σmax = 0.1, lo = −0.3, ceil((2.3 + 0.3)/1) = 3 cells:
    [−0.3, 0.7), [0.7, 1.7), [1.7, 2.7)."""
    return GaussianMixture("two", np.array([[0.0], [2.0]]), np.full((2, 1, 1), 0.01), np.array([0.5, 0.5]))


def test_grid_by_hand_1d():
    grid = grid_reference(two_mode_1d())
    np.testing.assert_allclose(grid.lo, [-0.3])
    assert grid.width == 1.0 and grid.n_cells == (3,) and grid.sigma_max == pytest.approx(0.1)
    assert grid.true_mass == "exact"

    def cell(a, b, mean):  # mass of [a, b) under N(mean, 0.1²)
        return ndtr((b - mean) / 0.1) - ndtr((a - mean) / 0.1)

    expected = [0.5 * (cell(lo, lo + 1, 0) + cell(lo, lo + 1, 2)) for lo in (-0.3, 0.7, 1.7)]
    expected.append(1 - sum(expected))  # overflow: ≈ ½ Φ(−3) below −0.3 plus ½ Φ(−7) above 2.7
    np.testing.assert_allclose(grid.mass, expected, rtol=1e-12, atol=1e-15)
    assert grid.mass[-1] == pytest.approx(0.5 * ndtr(-3.0), rel=1e-6)


def test_jsd_grid_single_cell_by_hand_1d():
    mix = two_mode_1d()
    mass = grid_reference(mix).mass
    overflow = jsd_grid(np.full((50, 1), 5.0), mix)  # every sample in the overflow cell
    assert overflow.value == pytest.approx(single_cell_jsd(mass[-1]), rel=1e-12)
    assert overflow.value == pytest.approx(0.69035, abs=1e-5)  # close to ln 2: P_over = ½Φ(−3) ≈ 0.00067
    # Every sample at mean 0: all in cell 0, whose true mass is ½(1 − Φ(−3)) (≈ ½).
    at_zero = jsd_grid(np.zeros((50, 1)), mix)
    p0 = 0.5 * (1 - ndtr(-3.0))
    assert at_zero.value == pytest.approx(single_cell_jsd(p0), rel=1e-9)
    # Points on the grid's edges: −0.3 is in cell 0, 2.7 (= lo + 3h) is overflow.
    edges = jsd_grid(np.array([[-0.3], [2.7]]), mix)
    q = np.array([0.5, 0, 0, 0.5])
    assert edges.value == pytest.approx(jensen_shannon(mass, q), rel=1e-12)


def test_jsd_grid_builtin_grids():
    cases = {
        "grid25": ([-4.15, -4.15], 1.0, (9, 9)),
        "cube27": ([-2.15] * 3, 1.0, (5, 5, 5)),
        # chord/2 = sin(π/8) = 0.38268; extent 2.06 / 0.38268 = 5.38 → 6 cells
        "ring8": ([-1.03, -1.03], math.sin(math.pi / 8), (6, 6)),
    }
    for name, (lo, width, n_cells) in cases.items():
        grid = grid_reference(mixture(name))
        np.testing.assert_allclose(grid.lo, lo, rtol=1e-12)
        assert grid.width == pytest.approx(width, rel=1e-12) and grid.n_cells == n_cells
        assert grid.true_mass == "exact"
        assert grid.mass.sum() == pytest.approx(1.0, abs=1e-12) and grid.mass.min() >= 0


def test_grid_histogram_cell_index():
    grid = grid_reference(mixture("grid25"))
    x = np.array([[0.0, 0.0], [-4.15, -4.15], [4.849, 0.0], [4.85, 0.0], [-4.16, 0.0]])
    counts = grid.histogram(x)
    # (0, 0): floor(4.15) = 4 per axis → 4·9 + 4 = 40. 4.849 → cell 8 in x, 4 in y → 76.
    assert counts[40] == 1 and counts[0] == 1 and counts[76] == 1
    assert counts[-1] == 2  # 4.85 = lo + 9h and −4.16 < lo are outside
    assert counts.sum() == 5


def test_jsd_grid_all_at_one_grid25_mean():
    # Cell of mean (0, 0) is [−0.15, 0.85)²: only that component reaches it (the next is 23σ away),
    # so its mass is (Φ(17) − Φ(−3))² / 25.
    mix = mixture("grid25")
    p = (ndtr(17.0) - ndtr(-3.0)) ** 2 / 25
    assert grid_reference(mix).mass[40] == pytest.approx(p, rel=1e-12)
    assert jsd_grid(np.zeros((10, 2)), mix).value == pytest.approx(single_cell_jsd(p), rel=1e-9)


def test_jsd_grid_of_the_mixture_itself_is_near_zero():
    for name in ("grid25", "cube27"):
        mix = mixture(name)
        value = jsd_grid(mix.sample(20_000, gen(2)), mix).value
        assert 0 < value < 0.002, (name, value)  # sampling noise alone: ≈ (cells used − 1)/(8 n)
    far = jsd_grid(np.full((100, 2), 50.0), mixture("grid25")).value
    assert far == pytest.approx(single_cell_jsd(grid_reference(mixture("grid25")).mass[-1]), rel=1e-12)
    assert 0.68 < far < LN2


def test_jensen_shannon_properties():
    p = np.array([0.5, 0.3, 0.2, 0.0])
    q = np.array([0.1, 0.1, 0.4, 0.4])
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p), rel=1e-14)
    assert jensen_shannon(p, p) == 0.0
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(LN2, rel=1e-15)
    assert 0 < jensen_shannon(p, q) < LN2


def test_exact_true_mass_matches_monte_carlo_grid25():
    mix = mixture("grid25")
    exact = grid_reference(mix, "exact")
    mc = grid_reference(mix, "monte_carlo")
    assert (exact.true_mass, mc.true_mass) == ("exact", "monte_carlo_1e6")
    assert exact.n_cells == mc.n_cells
    assert exact.mass.sum() == pytest.approx(1.0, abs=1e-12)
    assert mc.mass.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(mc.mass, exact.mass, atol=2e-3)  # per-cell sd ≤ 2e-4 at 1e6 draws
    assert grid_reference(mix, "exact") is exact  # cached


def test_rotated_covariances_use_monte_carlo_and_record_it():
    mix = mixture("grid25-random")
    metric = jsd_grid(mix.sample(5000, gen(3)), mix)
    assert metric.protocol["true_mass"] == "monte_carlo_1e6"
    assert metric.protocol["true_mass_draws"] == 1_000_000
    assert metric.value < 0.01  # ≈ 0.0015 from sampling noise
    with pytest.raises(ModeganError, match="diagonal"):
        grid_reference(mix, "exact")


def test_jsd_grid_undefined_for_one_component():
    mix = GaussianMixture("one", np.zeros((1, 2)), np.eye(2)[None], np.ones(1))
    metric = jsd_grid(np.zeros((5, 2)), mix)
    assert math.isnan(metric.value) and "at least 2 components" in metric.protocol["note"]


def test_jsd_grid_protocol():
    p = jsd_grid(np.zeros((3, 2)), mixture("grid25")).protocol
    assert p["log_base"] == "e" and p["unit"] == "nats" and p["cell_width"] == 1.0
    assert p["n_cells"] == [9, 9] and p["lo"] == pytest.approx([-4.15, -4.15]) and p["n_overflow_cells"] == 1
    assert "diagonal" in p["sigma_max_rule"] and p["true_mass"] == "exact"
    json.dumps(p)


# ---------------------------------------------------------------------------------------------------------
# w1


def test_w1_identical_and_shifted():
    x = mixture("grid25").sample(300, gen(4)).double()
    assert w1(x, x).value == 0.0
    v = np.array([0.3, -0.4])
    assert w1(x.numpy(), x.numpy() + v).value == pytest.approx(0.5, rel=1e-12)  # ‖v‖; W1 ≥ ‖mean shift‖
    perm = torch.randperm(300, generator=gen(5))
    assert w1(x, x[perm]).value == 0.0


def test_w1_three_hand_placed_points():
    # In the given order the pairs cost 10.05, 9 and 1; the optimal matching pairs each point with the
    # one at distance 1, so W1 = 1.
    x = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y = np.array([[10.0, 1.0], [1.0, 0.0], [0.0, 11.0]])
    assert w1(x, y).value == pytest.approx(1.0, rel=1e-15)
    assert w1(x, y).protocol["n_samples"] == 3


def test_w1_rejects_mismatched_input():
    with pytest.raises(ModeganError, match="w1 needs as many samples as real samples, got 3 and 4"):
        w1(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ModeganError, match="dimension 3, expected 2"):
        w1(np.zeros((3, 2)), np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------------------------
# evaluate_toy


def test_evaluate_toy_mixture():
    ds = load_dataset("ring8", n_train=100)
    samples = ds.sample_real(400, gen(6))
    results = evaluate_toy(samples, ds, gen(7))
    assert list(results) == ["hqs", "modes", "rkl_modes", "jsd_grid", "tv_grid", "w1"]
    assert results["modes"].value == 8
    assert results["hqs"].value > 95 and results["rkl_modes"].value < 0.05
    # Two samples of one distribution: W1 comes from unequal cluster counts (ring spacing 0.77), ≈ 0.06–0.16
    # over seeds; a generator collapsed on one mode is ≈ 1.2 away (mean distance to the other modes).
    assert 0 < results["w1"].value < 0.25
    assert evaluate_toy(np.tile(ds.mixture.means[0], (400, 1)), ds, gen(7))["w1"].value > 1.0
    json.dumps({k: {"value": m.value, "protocol": m.protocol} for k, m in results.items()})
    again = evaluate_toy(samples, ds, gen(7))
    assert {k: m.value for k, m in again.items()} == {k: m.value for k, m in results.items()}


def test_evaluate_toy_without_mixture():
    ds = load_dataset("swissroll", n_train=100)
    results = evaluate_toy(ds.sample_real(200, gen(8)), ds, gen(9))
    assert list(results) == ["w1"]
    collapsed = evaluate_toy(torch.zeros(200, 2), ds, gen(9))["w1"].value
    assert collapsed > 3 * results["w1"].value


# ---------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("samples", "pattern"),
    [
        (np.zeros(5), r"must have shape \(n, d\)"),
        (np.zeros((5, 3)), r"dimension 3, expected 2"),
        (np.zeros((0, 2)), r"empty"),
        (np.array([[0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0]]), r"NaN/Inf in 2 of 3 rows \(first: row 1\)"),
        (torch.tensor([[0.0, float("nan")]]), r"NaN/Inf in 1 of 1 rows"),
        (np.array([["a", "b"]]), r"numeric"),
    ],
)
def test_bad_samples(samples, pattern):
    for metric in (hqs, modes, rkl_modes, jsd_grid):
        with pytest.raises(ModeganError, match=pattern) as excinfo:
            metric(samples, mixture("grid25"))
        assert "\n" not in str(excinfo.value)


def test_bad_threshold_and_dataset_dimension():
    with pytest.raises(ModeganError, match="threshold must be a positive number"):
        hqs(np.zeros((2, 2)), mixture("grid25"), threshold=-1)
    with pytest.raises(ModeganError, match="dimension 2, expected 3"):
        evaluate_toy(np.zeros((4, 2)), load_dataset("cube27", n_train=10), gen(0))
