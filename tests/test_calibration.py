"""Calibration rows (true mixture, uniform box) against hand-computed values, and the `≈ noise` flag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modegan.bench.calibration import (
    TRUE_MIXTURE,
    UNIFORM_BOX,
    calibration,
    no_better_than,
    noise_flags,
    uniform_box,
)
from modegan.data import load_dataset
from modegan.metrics import jensen_shannon


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


@pytest.fixture(scope="module")
def two_modes(tmp_path_factory):
    """A 1-D mixture of N(-1, 0.1²) and N(1, 0.1²), equal weights: its uniform box is [-1.3, 1.3]."""
    spec = tmp_path_factory.mktemp("mix") / "two.yaml"
    spec.write_text("means: [[-1.0], [1.0]]\nstds: 0.1\n")
    data = load_dataset(str(spec), n_train=100)
    return data, calibration(data, 2_500, 2_500, 3.0)


def test_the_uniform_box_is_the_means_range_widened_by_three_sigma_max(two_modes):
    lo, hi = uniform_box(two_modes[0])
    assert lo.tolist() == pytest.approx([-1.3]) and hi.tolist() == pytest.approx([1.3])
    lo, hi = uniform_box(load_dataset("ring8", n_train=10))
    assert lo.tolist() == pytest.approx([-1.03, -1.03]) and hi.tolist() == pytest.approx([1.03, 1.03])


def test_true_mixture_row_by_hand(two_modes):
    true = two_modes[1][TRUE_MIXTURE]
    assert true["modes"] == 2
    assert true["hqs"] == pytest.approx(100 * (2 * phi(3) - 1), abs=0.4)  # 99.73 %, binomial sd 0.1
    assert true["rkl_modes"] < 0.005 and true["jsd_grid"] < 0.005  # balanced, and the mixture itself
    assert true["w1"] < 0.06  # two samples of one law: only sampling noise (~ n^-1/2)


def test_uniform_box_row_by_hand(two_modes):
    uni = two_modes[1][UNIFORM_BOX]
    assert uni["modes"] == 2
    assert uni["hqs"] == pytest.approx(100 * 1.2 / 2.6, abs=4)  # two windows of 0.6 in a box of 2.6; sd 1
    assert uni["rkl_modes"] < 0.01  # the box is symmetric: balanced between the two modes
    # jsd_grid: cells of width 1 from -1.3: [-1.3, -0.3), [-0.3, 0.7), [0.7, 1.7), then the overflow cell
    tail = 1 - phi(3)  # mass of N(1, 0.1²) below 0.7
    true_mass = np.array([0.5 * (phi(7) - phi(-3)), 0.5 * tail, 0.5 * (phi(7) - tail), 0.0])
    true_mass[-1] = 1 - true_mass[:-1].sum()
    uniform_mass = np.array([1, 1, 0.6, 0]) / 2.6
    assert uni["jsd_grid"] == pytest.approx(jensen_shannon(true_mass, uniform_mass), abs=0.02)
    # w1 in 1-D is the area between the two CDFs
    x = np.linspace(-2, 2, 40_001)
    f_uniform = np.clip((x + 1.3) / 2.6, 0, 1)
    f_mix = np.array([0.5 * phi((v + 1) / 0.1) + 0.5 * phi((v - 1) / 0.1) for v in x])
    assert uni["w1"] == pytest.approx(float(np.abs(f_uniform - f_mix).sum() * (x[1] - x[0])), abs=0.04)


def test_a_point_cloud_has_only_the_uniform_box_of_its_training_set(tmp_path):
    points = np.array([[0.0, 0.0], [2.0, 1.0], [1.0, 3.0]])
    np.save(tmp_path / "cloud.npy", points)
    data = load_dataset(str(tmp_path / "cloud.npy"))
    lo, hi = uniform_box(data)
    assert lo.tolist() == [0, 0] and hi.tolist() == [2, 3]
    refs = calibration(data, 50, 1, 3.0)
    assert list(refs) == [UNIFORM_BOX] and list(refs[UNIFORM_BOX]) == ["w1"]


def test_the_calibration_is_the_evaluation_protocol_seeded():
    data = load_dataset("ring8", n_train=10)
    assert calibration(data, 200, 7, 3.0) == calibration(data, 200, 7, 3.0)
    assert calibration(data, 200, 7, 3.0) != calibration(data, 200, 8, 3.0)


def test_noise_flag_per_metric_and_direction():
    uniform = {"modes": 7.0, "hqs": 0.6, "jsd_grid": 0.4, "rkl_modes": 0.15, "w1": 0.35}
    assert no_better_than("modes", 7.0, 7.0) and not no_better_than("modes", 7.5, 7.0)  # equal: not better
    assert no_better_than("hqs", 0.5, 0.6) and not no_better_than("hqs", 50.0, 0.6)
    assert no_better_than("w1", 0.35, 0.35) and not no_better_than("w1", 0.1, 0.35)  # lower is better
    assert no_better_than("rkl_modes", 0.9, 0.15) and not no_better_than("jsd_grid", 0.01, 0.4)
    assert not no_better_than("w1", None, 0.35) and not no_better_than("w1", math.nan, 0.35)
    assert not no_better_than("w1", 1.0, None) and not no_better_than("fd", 1e9, 1.0)  # no reference, no flag
    means = {"modes": 7.0, "hqs": 40.0, "jsd_grid": 0.5, "rkl_modes": None, "w1": 0.1}
    assert noise_flags(means, {UNIFORM_BOX: uniform}) == ("modes", "jsd_grid")
    assert noise_flags(means, {}) == ()


def test_the_swiss_roll_has_a_true_row_from_its_own_law():
    refs = calibration(load_dataset("swissroll", n_train=500), 100, 3, 3.0)
    assert list(refs) == [TRUE_MIXTURE, UNIFORM_BOX] and list(refs[TRUE_MIXTURE]) == ["w1"]
    assert refs[TRUE_MIXTURE]["w1"] < refs[UNIFORM_BOX]["w1"]


def test_a_point_cloud_table_says_why_it_has_no_true_row(tmp_path):
    import csv

    from modegan.bench import run_mog
    from modegan.bench.calibration import NO_MIXTURE_NOTE

    np.save(tmp_path / "cloud.npy", np.random.default_rng(0).normal(size=(200, 2)))
    run_mog(tmp_path / "b", methods=["gan"], datasets=[str(tmp_path / "cloud.npy")], seeds=1, steps=4,
            eval_every=2, overrides={"train": {"eval_samples": 100}}, workers=1)
    md = (tmp_path / "b" / "results.md").read_text()
    assert NO_MIXTURE_NOTE in md and f"| {UNIFORM_BOX} | " in md and f"| {TRUE_MIXTURE} |" not in md
    with open(tmp_path / "b" / "results.csv") as f:
        assert [r["method"] for r in csv.DictReader(f) if r["seed"] == ""] == [UNIFORM_BOX]
