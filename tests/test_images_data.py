"""Image datasets: IDX parsing, MNIST files and checksums, Stacked MNIST, CIFAR-10 pickles, image folders."""

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from modegan.data.cifar import load_cifar10
from modegan.data.folder import load_image_folder
from modegan.data.idx import MNIST_SHA256, download_mnist, parse_idx
from modegan.data.images import (
    StackedMNIST,
    TensorImages,
    load_image_dataset,
    load_mnist,
    load_stacked_mnist,
    to_uint8,
    triple_to_mode,
)
from modegan.errors import ModeganError

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"  # the checkout's shared/
needs_mnist = pytest.mark.skipif(
    not (REAL_MNIST / "train-images-idx3-ubyte.gz").is_file(), reason=f"real MNIST files not found in {REAL_MNIST}"
)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX ubyte file: 0, 0, 0x08, ndim, big-endian int32 sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return header + np.ascontiguousarray(array, np.uint8).tobytes()


def write_mnist(directory: Path, n_train=12, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
        out[prefix] = (images, labels)
    return out


# ---------------------------------------------------------------------------------------------------------
# IDX


def test_parse_idx_reads_header_and_data():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = idx_bytes(array)
    assert raw[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(raw[:4], "big") == 2051
    np.testing.assert_array_equal(parse_idx(raw), array)
    labels = np.array([7, 0, 9], np.uint8)
    assert int.from_bytes(idx_bytes(labels)[:4], "big") == 2049
    np.testing.assert_array_equal(parse_idx(idx_bytes(labels)), labels)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"\x00\x00", "too short"),
        (bytes([0, 0, 9, 1]) + (3).to_bytes(4, "big") + b"abc", "IDX magic"),  # 0x09 = signed byte
        (bytes([1, 0, 8, 1]) + (3).to_bytes(4, "big") + b"abc", "IDX magic"),
        (bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big"), "truncated inside its IDX header"),
        (bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"abc", "holds 3 data bytes but its header (5,) needs 5"),
        (bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + b"abc", "holds 3 data bytes"),
    ],
)
def test_parse_idx_rejects_bad_files(raw, message):
    with pytest.raises(ModeganError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_idx(raw, "x.idx")


def test_load_mnist_synthetic_files(tmp_path):
    made = write_mnist(tmp_path)
    train = load_mnist(tmp_path, verify=False)
    test = load_mnist(tmp_path, split="test", verify=False)
    assert train.shape == (1, 28, 28) and train.n == 12 and test.n == 5
    np.testing.assert_array_equal(train.data[:, 0].numpy(), made["train"][0])
    np.testing.assert_array_equal(train.labels.numpy(), made["train"][1])
    batch = train.batch(torch.tensor([3, 0]))
    assert batch.dtype == torch.float32 and batch.shape == (2, 1, 28, 28)
    expected = made["train"][0][[3, 0]].astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(batch[:, 0].numpy(), expected, atol=1e-6)
    d = train.describe()
    assert d["n"] == 12 and d["checksums"]["train-images-idx3-ubyte"]["matches_release"] is False


def test_mnist_checksum_is_verified_by_default(tmp_path):
    write_mnist(tmp_path)
    with pytest.raises(ModeganError, match="SHA-256.*not the MNIST release.*verify=False"):
        load_mnist(tmp_path)


def test_mnist_from_env_and_subfolder(tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    monkeypatch.setenv("MODEGAN_DATA", str(tmp_path))
    assert load_mnist(verify=False).n == 12
    monkeypatch.delenv("MODEGAN_DATA")
    with pytest.raises(ModeganError, match="no data directory for MNIST.*MODEGAN_DATA"):
        load_mnist()


def test_missing_mnist_file_names_file_and_directory(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(ModeganError, match=f"train-labels-idx1-ubyte.gz not found in {tmp_path}"):
        load_mnist(tmp_path, verify=False)
    assert load_mnist(tmp_path, split="test", verify=False).n == 5  # the other split is still fine


def test_truncated_gz_and_wrong_magic_and_count_mismatch(tmp_path):
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ModeganError, match="cannot read .*train-images-idx3-ubyte.gz.*truncated or corrupt"):
        load_mnist(tmp_path, verify=False)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(12, np.uint8))))  # a labels file under the images name
    with pytest.raises(ModeganError, match="IDX magic 2049; expected 2051"):
        load_mnist(tmp_path, verify=False)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((11, 28, 28), np.uint8))))  # 11 images, 12 labels
    with pytest.raises(ModeganError, match=r"train-labels.* has shape \(12,\); expected \(11,\)"):
        load_mnist(tmp_path, verify=False)
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((12, 28, 27), np.uint8))))
    with pytest.raises(ModeganError, match=r"shape \(12, 28, 27\); expected \(12, 28, 28\)"):
        load_mnist(tmp_path, verify=False)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ModeganError, match="cannot read"):
        load_mnist(tmp_path, verify=False)


def test_download_offline_fails_clearly(tmp_path):
    with pytest.raises(ModeganError, match="could not download train-images-idx3-ubyte.gz from any mirror"):
        download_mnist(tmp_path / "d", mirrors=("http://127.0.0.1:9/",), timeout=2)
    assert not list((tmp_path / "d").iterdir())  # no partial file left behind


def test_download_rejects_wrong_content(tmp_path):
    write_mnist(tmp_path / "mirror")
    with pytest.raises(ModeganError, match="checksum mismatch"):
        download_mnist(tmp_path / "d", mirrors=((tmp_path / "mirror").as_uri() + "/",))
    assert not list((tmp_path / "d").iterdir())


@needs_mnist
def test_download_from_a_file_mirror_verifies_and_keeps(tmp_path):
    download_mnist(tmp_path, mirrors=(REAL_MNIST.as_uri() + "/",))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n + ".gz" for n in MNIST_SHA256)
    assert load_mnist(tmp_path, split="test", download=True).n == 10_000  # nothing missing: no second fetch


@needs_mnist
def test_download_command_fetches_verified_files(tmp_path, monkeypatch, capsys):
    from modegan.cli import main
    from modegan.data import idx

    monkeypatch.setattr(idx, "MNIST_MIRRORS", ("http://127.0.0.1:9/", REAL_MNIST.as_uri() + "/"))  # 1st: offline
    assert main(["download", "mnist", "--data-dir", str(tmp_path / "m")]) == 0
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(n + ".gz" for n in MNIST_SHA256)
    assert main(["download", "cifar100", "--data-dir", str(tmp_path / "c")]) == 2
    assert "unknown downloadable dataset 'cifar100'; allowed: mnist" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


@needs_mnist
def test_real_mnist_matches_release():
    train = load_mnist(REAL_MNIST)
    assert train.n == 60_000 and load_mnist(REAL_MNIST, split="test").n == 10_000
    counts = torch.bincount(train.labels, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert all(v["matches_release"] for v in train.describe()["checksums"].values())


# ---------------------------------------------------------------------------------------------------------
# Stacked MNIST


def small_source(n=50, seed=0):
    rng = np.random.default_rng(seed)
    pixels = torch.from_numpy(rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8))
    return TensorImages("mnist-train", pixels, torch.from_numpy(rng.integers(0, 10, n)), "synthetic")


def test_stacking_is_deterministic_from_its_seed():
    source = small_source()
    a, b, c = StackedMNIST(source, n=1000, seed=0), StackedMNIST(source, n=1000, seed=0), StackedMNIST(source, 1000, 1)
    assert torch.equal(a.index, b.index) and not torch.equal(a.index, c.index)
    expected = torch.randint(50, (1000, 3), generator=torch.Generator().manual_seed(0))  # the documented draw
    assert torch.equal(a.index, expected)
    assert a.shape == (3, 28, 28) and a.n == 1000 and len(a) == 1000


def test_stack_channels_and_label_triples():
    source = small_source()
    stacked = StackedMNIST(source, n=300, seed=0)
    idx = torch.tensor([0, 17, 299, 17])
    pixels, batch = stacked.pixels(idx), stacked.batch(idx)
    for row, i in enumerate(idx.tolist()):
        for ch in range(3):
            j = int(stacked.index[i, ch])
            assert torch.equal(pixels[row, ch], source.data[j, 0])
            assert int(stacked.labels[i, ch]) == int(source.labels[j])
    assert torch.equal(to_uint8(batch), pixels)
    d = stacked.labels
    assert torch.equal(stacked.modes, d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2])
    assert triple_to_mode(torch.tensor([[1, 2, 3], [9, 0, 0]])).tolist() == [123, 900]


def test_pixel_scaling_endpoints():
    pixels = torch.tensor([0, 255, 128], dtype=torch.uint8).reshape(3, 1, 1, 1).expand(3, 1, 28, 28).contiguous()
    ds = TensorImages("mnist-x", pixels, None, "t")
    x = ds.batch([0, 1, 2])
    assert x[0].eq(-1).all() and x[1].eq(1).all() and torch.allclose(x[2], torch.tensor(128 / 127.5 - 1), atol=1e-6)
    s = ds.sample_real(7, torch.Generator().manual_seed(0))
    assert s.shape == (7, 1, 28, 28)


def test_batch_rejects_bad_indices():
    ds = StackedMNIST(small_source(), n=10, seed=0)
    with pytest.raises(ModeganError, match=r"indices must lie in \[0, 10\)"):
        ds.batch(torch.tensor([10]))
    with pytest.raises(ModeganError, match="1-D integer tensor"):
        ds.batch(torch.tensor([0.0]))


@needs_mnist
def test_real_stacked_mnist_protocol():
    stacked = load_stacked_mnist(REAL_MNIST)
    assert stacked.n == 128_000 and stacked.shape == (3, 28, 28)
    assert torch.equal(stacked.index, torch.randint(60_000, (128_000, 3), generator=torch.Generator().manual_seed(0)))
    d = stacked.describe()
    assert d["seed"] == 0 and d["n_source"] == 60_000 and d["n_modes_present"] == 1000
    assert load_image_dataset("stacked-mnist", REAL_MNIST).index.equal(stacked.index)


# ---------------------------------------------------------------------------------------------------------
# CIFAR-10


def write_cifar(directory: Path, n=4, seed=0, names=None):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    names = names or [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    made = {}
    for k, name in enumerate(names):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10 + k, 20, 30  # plane order: R, G, B
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(directory / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels, b"filenames": []}, f)
        made[name] = (data, labels)
    return made


def test_cifar_synthetic_batches(tmp_path):
    made = write_cifar(tmp_path / "cifar-10-batches-py")
    train = load_cifar10(tmp_path, verify=False)
    test = load_cifar10(tmp_path, split="test", verify=False)
    assert train.shape == (3, 32, 32) and train.n == 20 and test.n == 4
    first = train.pixels([0])[0]
    assert first[0].eq(10).all() and first[1].eq(20).all() and first[2].eq(30).all()
    np.testing.assert_array_equal(train.data[4].reshape(-1).numpy(), made["data_batch_2"][0][0])
    assert train.labels.tolist() == sum((made[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    x = train.batch([0])
    assert torch.allclose(x[0, 0], torch.tensor(10 / 127.5 - 1))
    assert train.describe()["checksums"]["data_batch_1"]["matches_release"] is False
    with pytest.raises(ModeganError, match="MD5 .* not the CIFAR-10 release"):
        load_cifar10(tmp_path)


def test_cifar_errors(tmp_path):
    write_cifar(tmp_path, names=["data_batch_1", "data_batch_2", "test_batch"])  # directly in the directory
    assert load_cifar10(tmp_path, split="test", verify=False).n == 4
    with pytest.raises(ModeganError, match=f"data_batch_3 not found in {tmp_path}"):
        load_cifar10(tmp_path, verify=False)
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ModeganError, match="cannot read CIFAR-10 batch .*test_batch.*truncated or corrupt"):
        load_cifar10(tmp_path, split="test", verify=False)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(ModeganError, match=r"b'data' must be uint8 \(N, 3072\)"):
        load_cifar10(tmp_path, split="test", verify=False)
    with open(path, "wb") as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ModeganError, match="not a CIFAR-10 batch"):
        load_cifar10(tmp_path, split="test", verify=False)
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f)
    with pytest.raises(ModeganError, match="2 integers in 0-9"):
        load_cifar10(tmp_path, split="test", verify=False)


# ---------------------------------------------------------------------------------------------------------
# Folders of images


def test_image_folder_resize_crop_and_modes(tmp_path):
    from PIL import Image

    (tmp_path / "sub").mkdir()
    Image.new("RGB", (40, 20), (200, 100, 50)).save(tmp_path / "a.png")
    Image.new("L", (16, 16), 77).save(tmp_path / "sub" / "b.jpg", quality=100)
    half = np.zeros((30, 60, 3), np.uint8)
    half[:, 30:] = 255  # left half black, right half white: the crop keeps the middle
    Image.fromarray(half).save(tmp_path / "c.PNG")
    (tmp_path / "notes.txt").write_text("ignored")
    rgb = load_image_folder(tmp_path, size=16, channels=3)
    assert rgb.shape == (3, 16, 16) and rgb.n == 3 and rgb.labels is None
    a, c, b = rgb.pixels([0, 1, 2])  # sorted paths: a.png, c.PNG, sub/b.jpg
    assert a[:, 0, 0].tolist() == [200, 100, 50] and a.eq(a[:, :1, :1]).all()
    assert abs(int(b[0, 5, 5]) - 77) <= 2 and b[0].eq(b[1]).all()
    assert int(c[0, 8, 0]) < 10 and int(c[0, 8, 15]) > 245  # crop of a 32×16 resize: 8 px black, 8 px white
    gray = load_image_folder(tmp_path, size=8, channels=1)
    assert gray.shape == (1, 8, 8)
    assert gray.describe()["n_files"] == 3
    assert load_image_dataset(str(tmp_path), size=8, channels=1).shape == (1, 8, 8)


def test_image_folder_errors(tmp_path):
    with pytest.raises(ModeganError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    with pytest.raises(ModeganError, match="no images"):
        load_image_folder(tmp_path)
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ModeganError, match="cannot read image .*broken.png"):
        load_image_folder(tmp_path, size=8)
    with pytest.raises(ModeganError, match="channels must be 1"):
        load_image_folder(tmp_path, channels=2)
    with pytest.raises(ModeganError, match="unknown image dataset"):
        load_image_dataset(str(tmp_path / "missing"))
