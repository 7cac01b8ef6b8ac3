"""Image datasets (issue #6; benchmarks.md §4–5): MNIST, Stacked MNIST, CIFAR-10 and any folder of images.

Every dataset keeps its pixels as uint8 and converts only the rows asked for, so 128,000 stacked digits
cost 47 MB of source images plus an index table instead of 1.2 GB of floats. The common interface:
`.shape` (C, H, W), `.n`, `.batch(idx)` (float32 in [-1, 1]: x / 127.5 - 1), `.labels` (or None),
`.sample_real(n, generator)` and `.describe()` (JSON-able: name, source, counts, checksums).

Data directory: the `root` argument, else $MODEGAN_DATA. MNIST files are looked for directly in it, then in
`root/mnist`; CIFAR-10 in `root/cifar-10-batches-py`, then directly in `root`.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import torch
from torch import Tensor

from modegan.data.idx import data_root, download_mnist, find_mnist_dir, read_mnist_split
from modegan.data.mixtures import _check_count, _check_generator
from modegan.errors import ModeganError, choice_error

SPLITS = ("train", "test")
STACKED_N = 128_000
STACKED_SEED = 0


def to_unit_range(pixels: Tensor) -> Tensor:
    """uint8 0..255 -> float32 -1..1 (0 -> -1, 255 -> 1), the generator's tanh range."""
    return pixels.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float in [-1, 1] -> uint8 0..255 (clamped, rounded): the inverse of `to_unit_range` on its image."""
    return ((images.detach().to(torch.float32).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def _check_index(idx, n: int) -> Tensor:
    if isinstance(idx, Tensor):
        if idx.dtype == torch.bool or idx.is_floating_point() or idx.dim() != 1:
            raise ModeganError(
                f"batch indices must be a 1-D integer tensor, got {idx.dtype} of shape {tuple(idx.shape)}"
            )
        idx = idx.to("cpu", torch.long)
    else:
        try:
            idx = torch.as_tensor(np.asarray(idx, dtype=np.int64).reshape(-1))
        except (TypeError, ValueError):
            raise ModeganError(f"batch indices must be integers, got {type(idx).__name__}") from None
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise ModeganError(f"batch indices must lie in [0, {n}), got {int(idx.min())}..{int(idx.max())}")
    return idx


class ImageDataset:
    """Base: subclasses give `_pixels(idx) -> uint8 (len(idx), C, H, W)`; the rest is shared."""

    name: str
    source: str
    labels: Tensor | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    @property
    def n(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.n

    def _pixels(self, idx: Tensor) -> Tensor:
        raise NotImplementedError

    def pixels(self, idx) -> Tensor:
        """The uint8 pixels of rows `idx`, shape (len(idx), C, H, W)."""
        return self._pixels(_check_index(idx, self.n))

    def batch(self, idx) -> Tensor:
        """Rows `idx` as float32 in [-1, 1], shape (len(idx), C, H, W)."""
        return to_unit_range(self.pixels(idx))

    def sample_real(self, n: int, generator: torch.Generator) -> Tensor:
        """n rows drawn uniformly with replacement with `generator` (real images for evaluation)."""
        n = _check_count(n)
        return self.batch(torch.randint(self.n, (n,), generator=_check_generator(generator)))

    def describe(self) -> dict:
        raise NotImplementedError


class TensorImages(ImageDataset):
    """Images held as one uint8 tensor (n, C, H, W): MNIST, CIFAR-10, a folder."""

    def __init__(self, name: str, pixels: Tensor, labels: Tensor | None, source: str, info: dict | None = None):
        if pixels.dtype != torch.uint8 or pixels.dim() != 4 or len(pixels) < 1:
            raise ModeganError(f"image pixels must be a non-empty uint8 tensor (n, C, H, W), got {pixels.dtype} "
                               f"{tuple(pixels.shape)}")
        if labels is not None and len(labels) != len(pixels):
            raise ModeganError(f"{name}: {len(labels)} labels for {len(pixels)} images")
        self.name, self.source, self.info = name, source, dict(info or {})
        self.data = pixels
        self.labels = labels

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.data.shape[1:])

    @property
    def n(self) -> int:
        return int(self.data.shape[0])

    def _pixels(self, idx: Tensor) -> Tensor:
        return self.data[idx]

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "n": self.n, "shape": list(self.shape), **self.info}


def load_mnist(
    root: str | os.PathLike | None = None, *, split: str = "train", download: bool = False, verify: bool = True
) -> TensorImages:
    """One MNIST split (60,000 train or 10,000 test digits, shape (1, 28, 28), labels 0-9) from the four IDX
    files in `root` (or $MODEGAN_DATA), directly or in its `mnist/` subfolder. `download=True` fetches missing
    files from public mirrors first (needs a network); `verify` checks the SHA-256 of the decompressed files."""
    if split not in SPLITS:
        raise choice_error("MNIST split", split, SPLITS)
    root = data_root(root, "MNIST")
    directory = find_mnist_dir(root)
    if download:
        download_mnist(directory)
    images, labels, info = read_mnist_split(directory, split, verify)
    pixels = torch.from_numpy(images.copy()).unsqueeze(1)
    return TensorImages(
        f"mnist-{split}", pixels, torch.from_numpy(labels.astype(np.int64)), str(directory),
        {"split": split, "checksums": info, "verified": verify},
    )


class StackedMNIST(ImageDataset):
    """benchmarks.md §4: stack i is three MNIST training digits, channel c = digit image `index[i, c]`.

    The (n, 3) index table is drawn once by `torch.randint(len(source), (n, 3), generator=torch.Generator()
    .manual_seed(seed))`: uniform, with replacement, deterministic from the seed. `labels` is the (n, 3)
    digit triple; `modes` is the mode id 100·d0 + 10·d1 + d2 (channel 0 is the hundreds digit), in 0..999.
    Batches are built on demand from the uint8 source, so nothing 1.2 GB is ever held.
    """

    def __init__(self, source: TensorImages, n: int = STACKED_N, seed: int = STACKED_SEED):
        if not isinstance(source, TensorImages) or source.shape[0] != 1 or source.labels is None:
            raise ModeganError("Stacked MNIST needs a labelled single-channel dataset (load_mnist(split='train'))")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ModeganError(f"Stacked MNIST seed must be an integer, got {seed!r}")
        self.source_images = source
        self.seed, self._n = int(seed), _check_count(n, "Stacked MNIST size")
        self.index = torch.randint(source.n, (self._n, 3), generator=torch.Generator().manual_seed(self.seed))
        self.labels = source.labels[self.index]
        self.name, self.source = "stacked-mnist", source.source

    @property
    def modes(self) -> Tensor:
        """Mode id per stack: 100·d0 + 10·d1 + d2."""
        return triple_to_mode(self.labels)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, *self.source_images.shape[1:])

    @property
    def n(self) -> int:
        return self._n

    def _pixels(self, idx: Tensor) -> Tensor:
        rows = self.index[idx]  # (b, 3) source indices
        return self.source_images.data[rows.reshape(-1), 0].reshape(len(idx), 3, *self.source_images.shape[1:])

    def describe(self) -> dict:
        src = self.source_images.describe()
        return {
            "name": self.name, "source": self.source, "n": self.n, "shape": list(self.shape), "seed": self.seed,
            "index_rng": "torch.randint(n_source, (n, 3), generator=torch.Generator().manual_seed(seed))",
            "from": src["name"], "n_source": src["n"], "mode_id": "100*d0 + 10*d1 + d2",
            "n_modes_present": int(torch.unique(self.modes).numel()), "checksums": src.get("checksums"),
        }


class ImagesOn:
    """An image dataset's uint8 rows held on a training device, so a batch is indexed and converted there.

    `batch(idx)` takes indices already on the device and in range (the trainer draws them), so it does no
    host check; it returns exactly what `dataset.batch(idx)` does. Stacked MNIST keeps its 60,000 source
    digits and its (n, 3) index table on the device, as on the host (nothing 1.2 GB is built).
    """

    def __init__(self, dataset: ImageDataset, device: torch.device):
        self.dataset, self.device = dataset, torch.device(device)
        self.shape, self.n = dataset.shape, dataset.n
        if isinstance(dataset, StackedMNIST):
            self._pixels = dataset.source_images.data.to(self.device)
            self._index = dataset.index.to(self.device)
        elif isinstance(dataset, TensorImages):
            self._pixels, self._index = dataset.data.to(self.device), None
        else:  # another ImageDataset: built on the host per batch, then moved
            self._pixels = self._index = None

    def __len__(self) -> int:
        return self.n

    def batch(self, idx: Tensor) -> Tensor:
        if self._pixels is None:
            return self.dataset.batch(idx.cpu()).to(self.device)
        if self._index is None:
            return to_unit_range(self._pixels[idx])
        rows = self._index[idx]
        return to_unit_range(self._pixels[rows.reshape(-1), 0].reshape(len(idx), *self.shape))


def triple_to_mode(triples: Tensor) -> Tensor:
    """(n, 3) digits -> (n,) mode ids 100·d0 + 10·d1 + d2."""
    triples = torch.as_tensor(triples)
    if triples.dim() != 2 or triples.shape[1] != 3:
        raise ModeganError(f"digit triples must have shape (n, 3), got {tuple(triples.shape)}")
    triples = triples.long()
    return triples[:, 0] * 100 + triples[:, 1] * 10 + triples[:, 2]


def load_stacked_mnist(
    root: str | os.PathLike | None = None, *, n: int = STACKED_N, seed: int = STACKED_SEED, download: bool = False,
    verify: bool = True,
) -> StackedMNIST:
    """Stacked MNIST from the 60,000 training digits (benchmarks.md §4: 128,000 stacks, seed 0)."""
    return StackedMNIST(load_mnist(root, split="train", download=download, verify=verify), n=n, seed=seed)


IMAGE_DATASETS = ("mnist", "stacked-mnist", "cifar10")


def load_image_dataset(name: str, root: str | os.PathLike | None = None, *, split: str = "train", **kw) -> ImageDataset:
    """A dataset by name ("mnist", "stacked-mnist", "cifar10") or, for any other string, a folder of images
    (`size` and `channels` keywords then apply; see `load_image_folder`)."""
    from modegan.data.cifar import load_cifar10
    from modegan.data.folder import load_image_folder

    if name == "mnist":
        return load_mnist(root, split=split, **kw)
    if name == "stacked-mnist":
        if split != "train":
            raise ModeganError("Stacked MNIST is built from the training split only (benchmarks.md §4)")
        return load_stacked_mnist(root, **kw)
    if name == "cifar10":
        return load_cifar10(root, split=split, **kw)
    if os.path.isdir(name):
        return load_image_folder(name, **kw)
    raise choice_error("image dataset", name, (*IMAGE_DATASETS, "<folder of images>"))
