"""Toy datasets: geometry exactly as benchmarks.md §1, reproducible draws, strict user-file loading."""

import math

import numpy as np
import pytest
import torch

from modegan.data import DATASETS, GaussianMixture, load_dataset, mixture, sample_swissroll
from modegan.errors import ModeganError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def one_line_error(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


# ---------------------------------------------------------------------------------------------------------
# Built-in geometry


def test_dataset_names():
    assert DATASETS == ("ring8", "grid25", "grid25-random", "cube27", "swissroll")


def test_ring8_geometry():
    mix = mixture("ring8")
    assert (mix.n_modes, mix.dim) == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(mix.means, axis=1), 1.0, rtol=0, atol=1e-15)
    distances = np.linalg.norm(mix.means[:, None] - mix.means[None], axis=-1)[np.triu_indices(8, 1)]
    assert distances.min() == pytest.approx(2 * math.sin(math.pi / 8))  # 8 distinct, evenly spaced
    np.testing.assert_allclose(mix.means[2], [0.0, 1.0], atol=1e-15)  # angle 2π·2/8 = π/2
    np.testing.assert_allclose(mix.means[4], [-1.0, 0.0], atol=1e-15)
    np.testing.assert_array_equal(mix.covs, np.broadcast_to(1e-4 * np.eye(2), (8, 2, 2)))
    np.testing.assert_array_equal(mix.weights, np.full(8, 1 / 8))


def test_grid25_geometry():
    mix = mixture("grid25")
    assert (mix.n_modes, mix.dim) == (25, 2)
    expected = {(i, j) for i in (-4, -2, 0, 2, 4) for j in (-4, -2, 0, 2, 4)}
    assert {tuple(m) for m in mix.means.tolist()} == expected
    np.testing.assert_array_equal(mix.covs, np.broadcast_to(0.05**2 * np.eye(2), (25, 2, 2)))


def test_cube27_geometry():
    mix = mixture("cube27")
    assert (mix.n_modes, mix.dim) == (27, 3)
    expected = {(i, j, k) for i in (-2, 0, 2) for j in (-2, 0, 2) for k in (-2, 0, 2)}
    assert {tuple(m) for m in mix.means.tolist()} == expected
    np.testing.assert_array_equal(mix.covs, np.broadcast_to(0.05**2 * np.eye(3), (27, 3, 3)))


def test_grid25_random_follows_the_documented_recipe():
    # benchmarks.md §1, written out independently of the library.
    rng = np.random.default_rng(2019)
    means = []
    while len(means) < 25:
        c = rng.uniform(-4, 4, size=2)
        if all(np.linalg.norm(c - m) >= 1.0 for m in means):
            means.append(c)
    covs = []
    for _ in range(25):
        angle = rng.uniform(0, np.pi)
        s = rng.uniform(0.02, 0.08, size=2)
        r = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        covs.append(r @ np.diag(s**2) @ r.T)
    mix = mixture("grid25-random")
    np.testing.assert_array_equal(mix.means, np.array(means))
    np.testing.assert_allclose(mix.covs, np.array(covs), rtol=1e-14, atol=1e-18)
    # Pinned values: a change here changes the benchmark and needs a new name (grid25-random@2).
    np.testing.assert_array_equal(mix.means[0], [-2.842402882304426, -0.46229123251859594])
    np.testing.assert_allclose(mix.means[24], [3.888652306299055, -1.9261405215402574], rtol=1e-15)
    np.testing.assert_allclose(mix.covs[0, 0], [0.00237838441859952, -0.00067431318697148], rtol=1e-12)


def test_grid25_random_properties():
    mix = mixture("grid25-random")
    assert (mix.n_modes, mix.dim) == (25, 2)
    assert np.all(np.abs(mix.means) <= 4)
    distances = np.linalg.norm(mix.means[:, None] - mix.means[None], axis=-1)[np.triu_indices(25, 1)]
    assert distances.min() >= 1.0
    np.testing.assert_array_equal(mix.covs, mix.covs.transpose(0, 2, 1))
    eig = np.linalg.eigvalsh(mix.covs)
    assert eig.min() >= 0.02**2 * (1 - 1e-9) and eig.max() <= 0.08**2 * (1 + 1e-9)
    assert np.all(np.abs(mix.covs[:, 0, 1]) > 0)  # anisotropic and rotated, not axis-aligned
    # Deterministic: the construction does not depend on any global state.
    from modegan.data.mixtures import _grid25_random

    np.random.seed(123)
    torch.manual_seed(123)
    again = _grid25_random()
    np.testing.assert_array_equal(again.means, mix.means)
    np.testing.assert_array_equal(again.covs, mix.covs)


def test_mixture_arrays_are_read_only():
    with pytest.raises(ValueError):
        mixture("grid25").means[0, 0] = 1.0


# ---------------------------------------------------------------------------------------------------------
# Sampling


def test_sample_std_and_component_frequencies_grid25():
    mix = mixture("grid25")
    x, labels = mix.sample_with_labels(20_000, gen(3))
    assert x.dtype == torch.float32 and x.shape == (20_000, 2) and labels.dtype == torch.long
    residual = x.double().numpy() - mix.means[labels.numpy()]
    std = residual.std(axis=0)
    assert np.all((std > 0.048) & (std < 0.052)), std  # standard error of the std is ≈ 0.00025
    np.testing.assert_allclose(residual.mean(axis=0), 0, atol=0.002)
    counts = np.bincount(labels.numpy(), minlength=25)
    assert counts.min() > 650 and counts.max() < 950  # 800 expected, sd ≈ 28


def test_sample_follows_anisotropic_covariance():
    mix = mixture("grid25-random")
    x, labels = mix.sample_with_labels(50_000, gen(4))
    first = labels.numpy() == 0
    residual = x.double().numpy()[first] - mix.means[0]
    np.testing.assert_allclose(np.cov(residual.T), mix.covs[0], atol=2.5e-4)


def test_sample_is_reproducible_and_uses_only_the_generator():
    mix = mixture("ring8")
    torch.manual_seed(0)
    a = mix.sample(100, gen(5))
    torch.manual_seed(1)
    b = mix.sample(100, gen(5))
    assert torch.equal(a, b)
    assert not torch.equal(a, mix.sample(100, gen(6)))


def test_weighted_mixture_draws_by_weight():
    mix = GaussianMixture("two", np.array([[0.0], [10.0]]), np.ones((2, 1, 1)), np.array([0.8, 0.2]))
    _, labels = mix.sample_with_labels(10_000, gen(0))
    assert abs(labels.float().mean().item() - 0.2) < 0.015  # sd 0.004


def test_swissroll_shape_and_range():
    x = sample_swissroll(20_000, gen(0))
    assert x.dtype == torch.float32 and x.shape == (20_000, 2)
    # t ∈ [1.5π, 4.5π]: radius 7.5·‖x‖ ≈ t ± noise (0.25 per coordinate).
    radius = 7.5 * torch.linalg.norm(x.double(), dim=1)
    assert radius.min() > 1.5 * math.pi - 1.6 and radius.max() < 4.5 * math.pi + 1.6
    assert abs(radius.mean().item() - 3 * math.pi) < 0.2  # E[t] = 3π, sd of the mean ≈ 0.04
    assert x.abs().max() < (4.5 * math.pi + 1.6) / 7.5
    assert torch.equal(x, sample_swissroll(20_000, gen(0)))


def test_swissroll_noise_level():
    # Point = t(cos t, sin t) + noise. Recover t from the polar angle (t = φ + 2πm, the m closest to the
    # radius); the radial residual ‖x‖ − t is then the radial noise component: sd 0.25 (slightly more from
    # the tangential noise moving φ by noise/t).
    x = sample_swissroll(20_000, gen(1)).double() * 7.5
    r = torch.linalg.norm(x, dim=1)
    phi = torch.atan2(x[:, 1], x[:, 0])
    candidates = phi[:, None] + 2 * math.pi * torch.arange(-1, 4)[None, :]
    t = candidates.gather(1, (candidates - r[:, None]).abs().argmin(1, keepdim=True))[:, 0]
    residual = r - t
    assert abs(residual.mean().item()) < 0.01
    assert 0.245 < residual.std().item() < 0.26


# ---------------------------------------------------------------------------------------------------------
# load_dataset


def test_training_set_is_fixed_per_seed():
    a = load_dataset("grid25", seed=0, n_train=1000)
    b = load_dataset("grid25", seed=0, n_train=1000)
    c = load_dataset("grid25", seed=1, n_train=1000)
    assert a.train.shape == (1000, 2) and a.train.dtype == torch.float32
    assert torch.equal(a.train, b.train)
    assert not torch.equal(a.train, c.train)
    assert torch.equal(a.train, mixture("grid25").sample(1000, gen(0)))


def test_sample_real_is_fresh_and_reproducible():
    ds = load_dataset("ring8", n_train=500)
    fresh = ds.sample_real(500, gen(42))
    assert fresh.shape == (500, 2)
    assert torch.equal(fresh, ds.sample_real(500, gen(42)))
    assert not torch.equal(fresh, ds.train)


@pytest.mark.parametrize("name", DATASETS)
def test_every_builtin_loads(name):
    ds = load_dataset(name, seed=2, n_train=300)
    info = ds.describe()
    assert info == {
        "name": name,
        "dim": 3 if name == "cube27" else 2,
        "n_modes": {"ring8": 8, "grid25": 25, "grid25-random": 25, "cube27": 27, "swissroll": None}[name],
        "n_train": 300,
        "seed": 2,
        "source": "builtin",
        "weighted": False,
    }
    assert (ds.mixture is None) == (name == "swissroll")
    assert ds.sample_real(7, gen(0)).shape == (7, ds.dim)


def test_default_training_set_size():
    assert load_dataset("swissroll").train.shape == (100_000, 2)


def test_yaml_mixture_with_stds_and_weights(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("name: two\nmeans: [[0, 0], [3, 0]]\nstds: [0.1, 0.2]\nweights: [3, 1]\n")
    ds = load_dataset(str(path), seed=0, n_train=4000)
    assert ds.name == str(path) and ds.mixture.name == "two" and ds.describe()["source"] == "yaml"
    np.testing.assert_allclose(ds.mixture.weights, [0.75, 0.25])
    np.testing.assert_allclose(ds.mixture.covs[1], 0.04 * np.eye(2))
    share = (ds.train[:, 0] > 1.5).float().mean().item()
    assert abs(share - 0.25) < 0.03  # user mixtures draw their training set by weight


def test_yaml_mixture_with_covariances_and_scalar_std(tmp_path):
    full = tmp_path / "full.yml"
    full.write_text("means: [[0, 0]]\ncovariances: [[[1.0, 0.5], [0.5, 2.0]]]\n")
    mix = load_dataset(full, n_train=10).mixture
    np.testing.assert_array_equal(mix.covs[0], [[1.0, 0.5], [0.5, 2.0]])
    np.testing.assert_array_equal(mix.weights, [1.0])
    iso = tmp_path / "iso.yaml"
    iso.write_text("means: [[0], [1], [2]]\nstds: 0.5\n")
    np.testing.assert_array_equal(load_dataset(iso, n_train=10).mixture.covs[:, 0, 0], [0.25] * 3)


def test_npy_point_cloud(tmp_path):
    points = np.arange(12, dtype=np.float64).reshape(6, 2)
    np.save(tmp_path / "pts.npy", points)
    ds = load_dataset(str(tmp_path / "pts.npy"), n_train=5)  # n_train does not apply to a point cloud
    assert ds.mixture is None and ds.dim == 2
    assert torch.equal(ds.train, torch.tensor(points, dtype=torch.float32))
    assert ds.describe() == {
        "name": str(tmp_path / "pts.npy"),
        "dim": 2,
        "n_modes": None,
        "n_train": 6,
        "seed": None,
        "source": "npy",
        "weighted": False,
    }
    fresh = ds.sample_real(50, gen(0))
    assert fresh.shape == (50, 2)
    rows = {tuple(r) for r in points.tolist()}
    assert all(tuple(r) in rows for r in fresh.tolist())
    assert len({tuple(r) for r in fresh.tolist()}) > 1


def test_csv_point_cloud_with_header_and_blank_lines(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("x, y\n1, 2\n\n3.5,-4e-1\n5,6\n")
    ds = load_dataset(str(path))
    np.testing.assert_array_equal(ds.train.numpy(), np.array([[1, 2], [3.5, -0.4], [5, 6]], np.float32))
    assert ds.describe()["source"] == "csv"


# ---------------------------------------------------------------------------------------------------------
# Bad input


def test_unknown_dataset_lists_allowed():
    with pytest.raises(ModeganError) as excinfo:
        load_dataset("grid26")
    message = one_line_error(excinfo)
    assert message.startswith("unknown dataset 'grid26'; allowed: ring8, grid25, grid25-random, cube27")
    assert "<file>.yaml" in message and "<file>.csv" in message


def test_unknown_mixture_and_swissroll_is_not_a_mixture():
    with pytest.raises(ModeganError, match="allowed: ring8, grid25, grid25-random, cube27$"):
        mixture("ring9")
    with pytest.raises(ModeganError, match="no modes"):
        mixture("swissroll")


@pytest.mark.parametrize("suffix", [".yaml", ".npy", ".csv"])
def test_missing_file(tmp_path, suffix):
    with pytest.raises(ModeganError, match="not found") as excinfo:
        load_dataset(str(tmp_path / f"nope{suffix}"))
    assert f"nope{suffix}" in one_line_error(excinfo)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1,2\n3,x\n", r"line 2: not a number: 'x'"),
        ("1,2\n3,4\n5,6,7\n", r"line 3: expected 2 values, got 3"),
        ("a,b\n1,2\n3\n", r"line 3: expected 2 values, got 1"),
        ("1,2\n3,nan\n4,5\n6,inf\n", r"2 non-finite values \(NaN/Inf\) in 2 rows; first at line 2"),
        ("a,b\n1,2\n", r"need at least 2 points, got 1"),
        ("", r"no data rows"),
        ("x,y\n\n", r"no data rows"),
        ("1,2\n3,1e40\n", r"too large for float32; first at line 2"),
    ],
)
def test_malformed_csv(tmp_path, text, pattern):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ModeganError, match=pattern) as excinfo:
        load_dataset(str(path))
    assert str(path) in one_line_error(excinfo)


@pytest.mark.parametrize(
    ("array", "pattern"),
    [
        (np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, np.inf]]), r"2 non-finite .* first at row 1"),
        (np.arange(5.0), r"expected a 2-D array"),
        (np.zeros((1, 2)), r"at least 2 points"),
        (np.array([["a", "b"], ["c", "d"]]), r"numeric"),
    ],
)
def test_bad_npy(tmp_path, array, pattern):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(ModeganError, match=pattern) as excinfo:
        load_dataset(str(path))
    one_line_error(excinfo)


def test_corrupt_npy(tmp_path):
    path = tmp_path / "bad.npy"
    path.write_bytes(b"not an npy file")
    with pytest.raises(ModeganError, match="not a readable .npy") as excinfo:
        load_dataset(str(path))
    one_line_error(excinfo)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("means: [[0, 0]]\nstds: 1\ncolour: red\n", r"unknown key 'colour'.*allowed: name, means, covar"),
        ("means: [[0, 0]]\ncovariances: [[[1, 2], [2, 1]]]\n", r"component 0 is not positive definite"),
        ("means: [[0, 0]]\ncovariances: [[[1, 0.5], [0, 1]]]\n", r"not symmetric"),
        ("means: [[0, 0], [1, 1]]\ncovariances: [[[1, 0], [0, 1]]]\n", r"'covariances' must have shape 2×2"),
        ("means: [[0, 0], [1]]\nstds: 1\n", r"'means' is ragged"),
        ("means: [[0, 0], [1, a]]\nstds: 1\n", r"'means' must be a number or \(nested\) list of numbers"),
        ("means: [[0, .nan]]\nstds: 1\n", r"'means' contains NaN or Inf"),
        ("means: [[0, 0], [1, 1]]\nstds: [1, 2, 3]\n", r"'stds' must be one number or 2 numbers"),
        ("means: [[0, 0]]\nstds: -1\n", r"'stds' must be positive"),
        ("means: [[0, 0], [1, 1]]\nstds: 1\nweights: [1, 0]\n", r"'weights' must be positive"),
        ("means: [[0, 0]]\n", r"exactly one of 'covariances' or 'stds'"),
        ("means: [[0, 0]]\nstds: 1\ncovariances: [[[1, 0], [0, 1]]]\n", r"exactly one of"),
        ("stds: 1\n", r"needs 'means'"),
        ("- 1\n- 2\n", r"must be a mapping"),
        ("", r"empty mixture spec"),
        ("means: [[0, 0]\n", r"invalid YAML at line"),
        ("means: [0, 0]\nstds: 1\n", r"'means' must be a non-empty K×d list"),
    ],
)
def test_bad_yaml_spec(tmp_path, text, pattern):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ModeganError, match=pattern) as excinfo:
        load_dataset(str(path))
    assert str(path) in one_line_error(excinfo)


def test_bad_sampling_arguments():
    mix = mixture("grid25")
    with pytest.raises(ModeganError, match="positive integer"):
        mix.sample(0, gen(0))
    with pytest.raises(ModeganError, match="torch.Generator"):
        mix.sample(10, 0)
    with pytest.raises(ModeganError, match="n_train must be a positive integer"):
        load_dataset("grid25", n_train=0)
    with pytest.raises(ModeganError, match="seed must be an integer"):
        load_dataset("grid25", seed=1.5)


def test_bad_mixture_construction():
    with pytest.raises(ModeganError, match="weights must sum to 1"):
        GaussianMixture("m", np.zeros((2, 1)), np.ones((2, 1, 1)), np.array([0.5, 0.6]))
    with pytest.raises(ModeganError, match=r"covariances must have shape \(2, 1, 1\)"):
        GaussianMixture("m", np.zeros((2, 1)), np.ones((1, 1, 1)), np.array([0.5, 0.5]))
