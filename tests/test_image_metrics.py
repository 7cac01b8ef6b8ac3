"""Image metrics against hand-computed values: modes/KL, Fréchet distance, KID, PRDC, the classifier, grids."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from modegan.data.images import StackedMNIST, TensorImages
from modegan.errors import ModeganError
from modegan.metrics import classifier as classifier_module
from modegan.metrics.classifier import (
    SHIPPED_CLASSIFIER,
    SHIPPED_COMMAND,
    SHIPPED_SHA256,
    Classifier,
    MnistCNN,
    _weights_sha256,
    default_classifier_path,
    load_classifier,
    save_classifier,
    train_classifier,
    trained_classifier_path,
)
from modegan.metrics.images import (
    RandomCNN,
    digit_metrics,
    evaluate_images,
    frechet_distance,
    frechet_from_stats,
    kid,
    kl_to_uniform,
    prdc,
    stacked_kl,
    stacked_modes,
)
from modegan.report.grids import grid_array, image_grid_png

LN1000 = math.log(1000)


# ---------------------------------------------------------------------------------------------------------
# Modes and KL


def all_triples(repeat=1):
    d = torch.arange(1000)
    return torch.stack([d // 100, d // 10 % 10, d % 10], 1).repeat(repeat, 1)


def test_one_mode_gives_one_and_ln1000():
    triples = torch.tensor([[3, 1, 4]]).repeat(500, 1)
    assert stacked_modes(triples).value == 1
    assert stacked_kl(triples).value == pytest.approx(LN1000, abs=1e-12)


def test_uniform_over_all_triples_gives_1000_and_zero():
    triples = all_triples(26)  # 26,000 samples, 26 per mode
    m, kl = stacked_modes(triples, {"classifier_accuracy": 0.993}), stacked_kl(triples)
    assert m.value == 1000 and kl.value == pytest.approx(0.0, abs=1e-12)
    assert m.protocol["n_samples"] == 26_000 and m.protocol["log_base"] == "e"
    assert m.protocol["classifier_accuracy"] == 0.993
    assert kl.protocol["uniform_floor"] == pytest.approx(999 / 52_000, abs=1e-6)


def test_kl_hand_case():
    # two modes, 3:1 -> H = -(.75 ln .75 + .25 ln .25); KL = ln 1000 - H
    triples = torch.tensor([[0, 0, 1]] * 3 + [[9, 9, 9]])
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert stacked_kl(triples).value == pytest.approx(LN1000 - h, abs=1e-12)
    assert stacked_modes(triples).value == 2
    assert kl_to_uniform(torch.tensor([0, 1]), 4) == pytest.approx(math.log(2))


def test_digit_metrics():
    d = digit_metrics(torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 3))
    assert d["digit_kl"].value == pytest.approx(0, abs=1e-12) and d["digit_coverage"].value == 10
    d = digit_metrics(torch.tensor([7, 7, 2, 2]))
    assert d["digit_kl"].value == pytest.approx(math.log(10) - math.log(2)) and d["digit_coverage"].value == 2
    with pytest.raises(ModeganError, match="must lie in 0..9"):
        digit_metrics(torch.tensor([10]))


# ---------------------------------------------------------------------------------------------------------
# Fréchet distance


def test_frechet_hand_cases():
    # diagonal covariances: ‖μ1 − μ2‖² + Σ (√a − √b)²
    assert frechet_from_stats([0, 0], np.diag([1, 4]), [1, 2], np.diag([4, 9])) == pytest.approx(1 + 4 + 1 + 1)
    # points (±1, 0), (0, ±1): mean 0, unbiased covariance (2/3)·I; y = 2x + (3, 0): covariance (8/3)·I
    x = torch.tensor([[1.0, 0], [-1, 0], [0, 1], [0, -1]])
    y = 2 * x + torch.tensor([3.0, 0])
    expected = 9 + 2 * (math.sqrt(2 / 3) - math.sqrt(8 / 3)) ** 2
    assert frechet_distance(x, y).value == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(x, x).value == pytest.approx(0, abs=1e-9)


def test_frechet_self_near_zero_and_singular_case():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(500, 8, generator=gen)
    assert abs(frechet_distance(a, a).value) < 1e-6
    flat = torch.cat([a[:, :3], torch.zeros(500, 5)], 1)  # rank-3 covariance
    fd = frechet_distance(flat, flat + 1).value
    assert math.isfinite(fd) and fd == pytest.approx(8, abs=1e-3)  # mean shift of 1 in 8 dims


# ---------------------------------------------------------------------------------------------------------
# KID


def test_kid_hand_case():
    # d = 1, k(a, b) = (ab + 1)^3. x = {0, 1}, y = {1, 2}:
    # xx: 2·k(0,1)/2 = 1; yy: 2·k(1,2)/2 = 27; xy: (1 + 1 + 8 + 27)·2/4 = 18.5 -> 1 + 27 − 18.5 = 9.5
    m = kid(torch.tensor([[0.0], [1.0]]), torch.tensor([[1.0], [2.0]]))
    assert m.value == pytest.approx(9.5, abs=1e-12)
    assert m.protocol["kernel"] == "(x.y/d + 1)^3"


def test_kid_blocks_and_same_distribution():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 16, generator=gen), torch.randn(200, 16, generator=gen)
    exact = kid(x, y, block=10_000, dtype=torch.float64).value
    assert kid(x, y, block=7, dtype=torch.float64).value == pytest.approx(exact, rel=1e-10, abs=1e-13)
    assert kid(x, y, block=7).value == pytest.approx(exact, abs=1e-5)  # float32 kernels (the default)
    assert abs(kid(x, y).value) < 0.05 < kid(x, y + 1).value


# ---------------------------------------------------------------------------------------------------------
# PRDC


def test_prdc_hand_case():
    """k = 1. Real {0, 1, 3}: radii 1, 1, 2. Fake {0.4, 0.6, 10}: radii 0.2, 0.2, 9.4.
    precision: 0.4, 0.6 inside a real ball, 10 not -> 2/3. density: 0.4 and 0.6 lie in the balls of 0 and 1 ->
    (2 + 2 + 0) / (1·3) = 4/3. recall: 0 is in no fake ball; 1 and 3 are in 10's ball (9 and 7 < 9.4) -> 2/3.
    coverage: nearest fakes 0.4 (< 1), 0.4 (< 1), 2.4 (not < 2) -> 2/3."""
    out = prdc(torch.tensor([[0.0], [1], [3]]), torch.tensor([[0.4], [0.6], [10]]), nearest_k=1)
    assert out["precision"].value == pytest.approx(2 / 3)
    assert out["recall"].value == pytest.approx(2 / 3)
    assert out["density"].value == pytest.approx(4 / 3)
    assert out["coverage"].value == pytest.approx(2 / 3)
    assert out["precision"].protocol["nearest_k"] == 1


def reference_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> dict:
    """clovaai prdc's formulas on full distance matrices (np.partition at index k skips the point itself)."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_r = np.partition(dist(real, real), k, axis=-1)[:, k]
    fake_r = np.partition(dist(fake, fake), k, axis=-1)[:, k]
    d = dist(real, fake)
    return {
        "precision": (d < real_r[:, None]).any(0).mean(),
        "recall": (d < fake_r[None, :]).any(1).mean(),
        "density": (1 / k) * (d < real_r[:, None]).sum(0).mean(),
        "coverage": (d.min(1) < real_r).mean(),
    }


def test_prdc_matches_reference_and_is_block_independent():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(150, 6)), rng.normal(0.3, 1.2, size=(120, 6))
    ref = reference_prdc(real, fake, 5)
    small, big = prdc(real, fake, 5, block=7, dtype=torch.float64), prdc(real, fake, 5, block=10_000)
    for name in ref:
        assert small[name].value == pytest.approx(ref[name], abs=1e-12), name
        assert big[name].value == small[name].value, name  # float32 (default) gives the same counts here


def test_prdc_needs_more_points_than_k():
    with pytest.raises(ModeganError, match="nearest_k = 5 needs more than 5 samples"):
        prdc(torch.zeros(5, 2), torch.zeros(10, 2))


# ---------------------------------------------------------------------------------------------------------
# The classifier and the pipeline


CENTRES = torch.linspace(-0.9, 0.9, 10)


class StubNet(MnistCNN):
    """Predicts the digit whose centre is nearest the image's mean pixel; features = −(mean − centre)²."""

    def __init__(self):
        super().__init__()
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.weight[:, :10] = torch.eye(10)
            self.head.bias.zero_()

    def features(self, x):
        m = x.mean((1, 2, 3))
        h = torch.zeros(len(x), 128)
        h[:, :10] = -((m[:, None] - CENTRES) ** 2)
        h[:, 10:] = torch.sin(torch.arange(118) * m[:, None] * 7)  # some spread, so covariances are not singular
        return h


def constant_digits(digits: torch.Tensor) -> torch.Tensor:
    """Images (N, C, 28, 28) whose channel c is the constant CENTRES[digits[:, c]]."""
    return CENTRES[digits][:, :, None, None].expand(*digits.shape, 28, 28).contiguous()


def stub_stacked_dataset(n=400):
    digits = torch.arange(30) % 10
    pixels = ((constant_digits(digits[:, None]) + 1) * 127.5).round().to(torch.uint8)
    return StackedMNIST(TensorImages("mnist-train", pixels, digits, "synthetic"), n=n, seed=0)


def test_stacked_pipeline_with_stub_classifier():
    clf = Classifier(StubNet(), 1.0, "stub-sha", {})
    dataset = stub_stacked_dataset()
    gen = torch.Generator().manual_seed(0)
    one_mode = constant_digits(torch.tensor([[1, 2, 3]]).repeat(300, 1))
    assert clf.predict(one_mode).tolist() == [[1, 2, 3]] * 300
    assert clf.features(one_mode).shape == (300, 384)
    out = evaluate_images(one_mode, dataset, clf, generator=gen, n_feature_samples=200)
    assert out["modes"].value == 1 and out["kl"].value == pytest.approx(LN1000)
    assert out["modes"].protocol["classifier_sha256"] == "stub-sha" and out["modes"].protocol["n_samples"] == 300
    assert out["fd"].protocol["n_real"] == 200 and out["fd"].protocol["n_fake"] == 200
    collapsed_fd = out["fd"].value
    uniform = constant_digits(all_triples())
    out = evaluate_images(uniform, dataset, clf, generator=gen, n_feature_samples=200)
    assert out["modes"].value == 1000 and out["kl"].value == pytest.approx(0, abs=1e-12)
    assert set(out) == {"modes", "kl", "fd", "kid", "precision", "recall", "density", "coverage"}
    real = dataset.batch(torch.arange(300))
    out = evaluate_images(real, dataset, clf, generator=gen, n_feature_samples=300)
    assert out["precision"].value > 0.9 and out["fd"].value < collapsed_fd / 10


def test_mnist_pipeline_with_stub_classifier():
    clf = Classifier(StubNet(), 1.0, "stub-sha", {})
    dataset = stub_stacked_dataset().source_images
    samples = constant_digits(torch.tensor([[4], [4], [5], [5]]).repeat(10, 1))
    out = evaluate_images(samples, dataset, clf, generator=torch.Generator().manual_seed(0), n_feature_samples=30)
    assert out["digit_coverage"].value == 2 and out["digit_kl"].value == pytest.approx(math.log(5))
    assert out["fd"].protocol["n_real"] == 30  # all 30 distinct source images
    with pytest.raises(ModeganError, match="need the MNIST classifier"):
        evaluate_images(samples, dataset, None, generator=torch.Generator())


def test_cifar_pipeline_uses_seeded_random_cnn():
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8, generator=gen)
    dataset = TensorImages("cifar10-train", pixels, None, "synthetic")
    a, b, c = RandomCNN(seed=0), RandomCNN(seed=0), RandomCNN(seed=1)
    x = dataset.batch(torch.arange(8))
    assert torch.equal(a(x), b(x)) and a.sha256 == b.sha256 != c.sha256 and a(x).shape == (8, 256)
    out = evaluate_images(dataset.batch(torch.arange(40)), dataset, generator=gen, n_feature_samples=40)
    assert out["fd"].value == pytest.approx(0, abs=1e-6) and out["precision"].value == 1
    assert out["fd"].protocol["feature_seed"] == 0 and out["fd"].protocol["feature_sha256"] == a.sha256
    with pytest.raises(ModeganError, match="samples have shape"):
        evaluate_images(torch.zeros(4, 3, 28, 28), dataset, generator=gen)


def tiny_mnist(n, seed):
    digits = torch.arange(n) % 10
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randint(0, 40, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
    pixels = ((constant_digits(digits[:, None]) + 1) * 100).to(torch.uint8) + noise
    return TensorImages("mnist-train", pixels, digits, "synthetic")


def test_classifier_save_load_and_checksum(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "clf.safetensors"
    clf = train_classifier(tiny_mnist(64, 0), tiny_mnist(20, 1), epochs=1, batch_size=32,
                           generator=torch.Generator().manual_seed(0), path=path)
    assert path.is_file() and clf.path == str(path) and 0 <= clf.accuracy <= 1
    assert clf.protocol["epochs"] == 1 and clf.protocol["n_train"] == 64
    loaded = load_classifier(path, min_accuracy=0)
    assert loaded.sha256 == clf.sha256 and loaded.accuracy == clf.accuracy
    x = torch.rand(3, 3, 28, 28) * 2 - 1
    assert torch.equal(loaded.features(x), clf.features(x)) and loaded.features(x).shape == (3, 384)
    plain = MnistCNN()
    plain.load_state_dict(loaded.net.state_dict())
    with torch.no_grad():  # the channels_last fast path gives the plain network's features
        expected = plain.eval().features(x.reshape(9, 1, 28, 28)).reshape(3, 384)
    assert torch.allclose(loaded.features(x), expected, atol=1e-5)
    feats, preds = clf.features_and_predict(x)
    assert torch.equal(feats, clf.features(x)) and torch.equal(preds, clf.predict(x)) and preds.shape == (3, 3)
    if clf.accuracy < 1:
        with pytest.raises(ModeganError, match="test accuracy .* < required"):
            load_classifier(path, min_accuracy=1.0)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip bits in the last weight bytes
    path.write_bytes(bytes(raw))
    with pytest.raises(ModeganError, match="fails its checksum"):
        load_classifier(path, min_accuracy=0)
    with pytest.raises(ModeganError, match="no MNIST classifier at"):
        load_classifier(tmp_path / "none.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(ModeganError, match="cannot read classifier"):
        load_classifier(tmp_path / "junk.safetensors")


def test_default_is_the_shipped_classifier_and_training_saves_to_the_cache(monkeypatch, tmp_path):
    assert default_classifier_path() == SHIPPED_CLASSIFIER
    assert SHIPPED_CLASSIFIER.parent == Path(classifier_module.__file__).parent
    monkeypatch.setenv("MODEGAN_CACHE", str(tmp_path))
    assert trained_classifier_path() == tmp_path / "mnist_cnn.safetensors"
    monkeypatch.delenv("MODEGAN_CACHE")
    assert trained_classifier_path() == Path.home() / ".cache" / "modegan" / "mnist_cnn.safetensors"


def test_shipped_classifier_loads_verified_with_its_provenance():
    clf = load_classifier()  # no path: the file inside the package, re-hashed against the pinned SHA-256
    assert clf.sha256 == SHIPPED_SHA256 and len(SHIPPED_SHA256) == 64
    assert clf.accuracy >= 0.992
    assert clf.protocol["command"] == SHIPPED_COMMAND and clf.protocol["epochs"] == 8
    assert clf.protocol["n_train"] == 60_000 and clf.protocol["n_test"] == 10_000


def test_a_changed_shipped_classifier_is_refused_even_with_matching_metadata(monkeypatch, tmp_path):
    clf = load_classifier()
    with torch.no_grad():
        clf.net.head.bias[3] += 0.5  # a doctored file whose own metadata checksum is rewritten to match
    state = {k: v.contiguous() for k, v in clf.net.state_dict().items()}
    doctored = tmp_path / "mnist_cnn.safetensors"
    save_classifier(classifier_module.Classifier(clf.net, clf.accuracy, _weights_sha256(state), clf.protocol),
                    doctored)
    assert load_classifier(doctored).sha256 != SHIPPED_SHA256  # as a user's own file it is self-consistent
    monkeypatch.setattr(classifier_module, "SHIPPED_CLASSIFIER", doctored)
    with pytest.raises(ModeganError, match="fails its pinned checksum; reinstall modegan"):
        load_classifier()
    monkeypatch.setattr(classifier_module, "SHIPPED_CLASSIFIER", tmp_path / "gone.safetensors")
    with pytest.raises(ModeganError, match="shipped MNIST classifier is missing from the installation"):
        load_classifier()


REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"  # the checkout's shared/


@pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason="needs the real MNIST files")
def test_shipped_classifier_on_real_test_digits():
    from modegan.data.images import load_mnist

    clf = load_classifier()  # verifies the checksum and the ≥ 99.2% recorded accuracy
    test = load_mnist(REAL_MNIST, split="test")
    idx = torch.arange(2000)
    stacked = test.batch(idx).reshape(-1, 2, 28, 28)[:, :1].expand(-1, 3, -1, -1)  # the same digit 3 times
    pred = clf.predict(test.batch(idx))[:, 0]
    assert (pred == test.labels[idx]).float().mean() > 0.985
    assert torch.equal(clf.predict(stacked), pred[::2, None].expand(-1, 3))


# ---------------------------------------------------------------------------------------------------------
# Grids


def test_image_grid_png(tmp_path):
    from PIL import Image

    images = torch.full((5, 1, 4, 4), -1.0)
    images[1] = 1.0  # second image white
    array = grid_array(images, nrow=3, padding=1)
    assert array.shape == (2 * 5 + 1, 3 * 5 + 1)
    assert array[1:5, 6:10].min() == 255 and array[1:5, 1:5].max() == 0
    path = image_grid_png(tmp_path / "g" / "grid.png", torch.rand(7, 3, 28, 28) * 2 - 1, nrow=4)
    with Image.open(path) as im:
        assert im.mode == "RGB" and im.size == (4 * 30 + 2, 2 * 30 + 2)
    with pytest.raises(ModeganError, match="grid images must be"):
        grid_array(torch.zeros(2, 2, 4, 4))

