"""What the trainer trains on: a fixed training set plus a sampler of fresh real points for evaluation."""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from modegan.data.cifar import load_cifar10
from modegan.data.folder import load_image_folder
from modegan.data.idx import DATA_ENV
from modegan.data.images import STACKED_N, ImageDataset, load_mnist, load_stacked_mnist
from modegan.data.mixtures import (
    MIXTURES,
    GaussianMixture,
    _check_count,
    _check_generator,
    component_classes,
    load_mixture_spec,
    mixture,
)
from modegan.data.pointcloud import load_csv_labelled, load_npy, load_npy_labels
from modegan.data.swissroll import sample_swissroll
from modegan.errors import ModeganError, choice_error
from modegan.limits import check_elements

DATASETS = (*MIXTURES, "swissroll")
FILE_KINDS = ("<file>.yaml", "<file>.npy", "<file>.csv")
TOY_SUFFIXES = (".yaml", ".yml", ".npy", ".csv")
IMAGE_NAMES = ("mnist", "stacked-mnist", "cifar10")


def is_image_data(name: str | os.PathLike) -> bool:
    """mnist, stacked-mnist, cifar10, or an existing folder (of images); anything else is toy data."""
    name = os.fspath(name)
    if name in IMAGE_NAMES:
        return True
    return name not in DATASETS and Path(name).suffix.lower() not in TOY_SUFFIXES and os.path.isdir(name)


@dataclass(eq=False)
class ToyDataset:
    """A toy dataset.

    `train` is drawn once from the dataset seed (or, for a user point cloud, is the file's rows), so every
    method sees the same data; `sample_real` gives fresh points for evaluation, as benchmarks.md §1 asks.
    """

    name: str
    train: torch.Tensor  # (n_train, d) float32
    mixture: GaussianMixture | None
    seed: int | None  # None for user point clouds: their training set is the file, nothing is drawn
    source: str  # "builtin", "yaml", "npy" or "csv"
    _sampler: Callable[[int, torch.Generator], torch.Tensor] = field(repr=False)
    # Known per-example importance weights dP/dQ when the training set was drawn with a bias (IWGN).
    weights: torch.Tensor | None = None
    # data.classes (docs/methods.md §10): each training point's class (long, (n_train,)), each component's class
    # ((K,) ints), and the grouping's name; None without labels.
    labels: torch.Tensor | None = None
    class_of: np.ndarray | None = None
    classes: str | None = None

    @property
    def n_classes(self) -> int | None:
        if self.class_of is not None:
            return int(self.class_of.max()) + 1
        return None if self.labels is None else int(self.labels.max()) + 1

    def class_probs(self) -> torch.Tensor:
        """Each class's probability: under the target mixture (the sum of its components' weights), or a
        labelled point cloud's class frequencies."""
        if self.labels is None:
            raise ModeganError(f"{self.name} carries no labels (set data.classes, data.label_column or data.labels)")
        if self.class_of is None:
            counts = torch.bincount(self.labels, minlength=self.n_classes).float()
            return counts / counts.sum()
        return torch.from_numpy(np.bincount(self.class_of, weights=self.mixture.weights,
                                            minlength=self.n_classes)).to(torch.float32)

    def sample_real_labelled(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n fresh real points and their classes, the points the same draws as `sample_real`."""
        if self.labels is None:
            raise ModeganError(f"{self.name} carries no labels (set data.classes, data.label_column or data.labels)")
        if self.class_of is None:  # a point cloud: its rows resampled, as `sample_real` draws them
            index = torch.randint(len(self.train), (_check_count(n),), generator=_check_generator(generator))
            return self.train[index], self.labels[index]
        points, comps = self.mixture.sample_with_labels(n, generator)
        return points, torch.from_numpy(self.class_of)[comps]

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    def sample_real(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n fresh real points (float32, shape (n, d)) drawn with `generator`."""
        return self._sampler(n, generator)

    def describe(self) -> dict:
        """JSON-able summary stored with every result."""
        return {
            "name": self.name,
            "dim": self.dim,
            "n_modes": self.mixture.n_modes if self.mixture is not None else None,
            "n_train": int(self.train.shape[0]),
            "seed": self.seed,
            "source": self.source,
            "weighted": self.weights is not None,
            **({"classes": self.classes, "n_classes": self.n_classes} if self.labels is not None else {}),
        }


def _mixture_dataset(
    name: str, mix: GaussianMixture, seed: int, n_train: int, source: str, mode_probs: list[float] | None,
    classes: str | None = None,
) -> ToyDataset:
    """The fixed training set of a mixture, drawn by its own weights pi, or by other probabilities q
    (a known bias), in which case every example carries its importance weight pi_k / q_k. With `classes`
    (data.classes) every example also carries its component's class (`component_classes`); the points are
    the same draws either way."""
    if classes is None:
        return _mixture_points(name, mix, seed, n_train, source, mode_probs)[0]
    class_of = component_classes(mix, classes)
    dataset, components = _mixture_points(name, mix, seed, n_train, source, mode_probs)
    dataset.class_of, dataset.classes = class_of, classes
    dataset.labels = torch.from_numpy(class_of)[components]
    return dataset


def _mixture_points(
    name: str, mix: GaussianMixture, seed: int, n_train: int, source: str, mode_probs: list[float] | None
) -> tuple[ToyDataset, torch.Tensor]:
    """The dataset of `_mixture_dataset` without labels, and each training point's component."""
    generator = torch.Generator().manual_seed(seed)
    if not mode_probs:
        train, components = mix.sample_with_labels(n_train, generator)
        return ToyDataset(name, train, mix, seed, source, mix.sample), components
    q = np.asarray(mode_probs, dtype=np.float64)
    if q.shape != (mix.n_modes,) or not np.all(np.isfinite(q)) or np.any(q <= 0):
        raise ModeganError(
            f"data.mode_probs must be {mix.n_modes} positive numbers (one per component of {mix.name}), "
            f"got {mode_probs}"
        )
    q = q / q.sum()
    train, labels = GaussianMixture(f"{mix.name}-biased", mix.means, mix.covs, q).sample_with_labels(
        n_train, generator
    )
    weights = torch.from_numpy(mix.weights / q).to(torch.float32)[labels]
    return ToyDataset(name, train, mix, seed, source, mix.sample, weights), labels


def _sized(mix: GaussianMixture, n_train: int) -> GaussianMixture:
    """Refuse a training set too large to draw (n_train x dim values), before drawing it."""
    check_elements(f"data.n_train={n_train:,}", n_train * mix.dim, "the training set")
    return mix


def _no_modes(name: str, mode_probs: list[float] | None, classes: str | None = None) -> None:
    if mode_probs:
        raise ModeganError(f"data.mode_probs needs a Gaussian mixture; {name!r} has no modes")
    if classes is not None:
        raise ModeganError(f"data.classes groups a Gaussian mixture's components; {name!r} has none (labels of "
                           "point clouds are not built yet)")


def _resample_rows(points: torch.Tensor) -> Callable[[int, torch.Generator], torch.Tensor]:
    """Fresh 'real' samples of a point cloud: its rows drawn uniformly with replacement."""

    def sample(n: int, generator: torch.Generator) -> torch.Tensor:
        n = _check_count(n)
        index = torch.randint(len(points), (n,), generator=_check_generator(generator))
        return points[index]

    return sample


def load_dataset(
    name: str | os.PathLike, *, seed: int = 0, n_train: int | None = 100_000, mode_probs: list[float] | None = None,
    root: str | os.PathLike | None = None, image_size: int | None = None, channels: int | None = None,
    verify: bool = True, classes: str | None = None, label_column: str | None = None, labels: str | None = None,
) -> ToyDataset | ImageDataset:
    """A built-in dataset by name, or a user file: `.yaml`/`.yml` (mixture spec), `.npy` or `.csv`
    (point cloud). Mixture training sets draw components by the mixture's weights (uniform for the
    built-ins); a point cloud's training set is the whole file, and seed and n_train do not apply.

    `mode_probs` draws a mixture's training set with other component probabilities q (a known bias);
    each example then carries the importance weight pi_k / q_k of its component, so that weighting the
    real term recovers the target mixture (Diesendruck et al. 2018). Evaluation still uses the target.

    Image data (`is_image_data`) come from `load_image_data`; `root`, `image_size`, `channels` and `verify`
    apply to them only. `classes` (data.classes: components, rows, columns or a number) labels a mixture's
    points with their component's class (`mixtures.component_classes`); a .csv point cloud takes its labels from
    `label_column` (a header name or a 0-based index, taken out of the points), a .npy from the second .npy
    `labels`."""
    if not isinstance(name, (str, os.PathLike)):
        raise ModeganError(f"dataset name must be a string or path, got {type(name).__name__}")
    name = os.fspath(name)
    if is_image_data(name):
        _no_modes(name, mode_probs)
        if classes is not None and name != "stacked-mnist":
            raise ModeganError(f"data.classes does not apply to {name}: its images carry their own labels")
        return load_image_data(name, seed=seed, n_train=n_train, root=root, image_size=image_size,
                               channels=channels, verify=verify)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ModeganError(f"dataset seed must be an integer, got {seed!r}")
    seed = int(seed)
    n_train = _check_count(n_train, "n_train")

    if name in DATASETS:
        if name == "swissroll":
            check_elements(f"data.n_train={n_train:,}", 2 * n_train, "the training set")
            _no_modes(name, mode_probs, classes)
            train = sample_swissroll(n_train, torch.Generator().manual_seed(seed))
            return ToyDataset(name, train, None, seed, "builtin", sample_swissroll)
        return _mixture_dataset(name, _sized(mixture(name), n_train), seed, n_train, "builtin", mode_probs, classes)

    suffix = Path(name).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _mixture_dataset(name, _sized(load_mixture_spec(name), n_train), seed, n_train, "yaml", mode_probs,
                                classes)
    if suffix in (".npy", ".csv"):
        _no_modes(name, mode_probs, classes)
        if suffix == ".npy":
            points = load_npy(name)
            y = None if labels is None else load_npy_labels(labels, len(points))
        else:
            points, y = load_csv_labelled(name, label_column)
        points = torch.from_numpy(points)
        dataset = ToyDataset(name, points, None, None, suffix[1:], _resample_rows(points))
        if y is not None:
            dataset.labels = torch.from_numpy(y)
            dataset.classes = f"column {label_column}" if suffix == ".csv" else f"file {Path(labels).name}"
        return dataset
    raise choice_error("dataset", name, DATASETS + FILE_KINDS + IMAGE_NAMES + ("<folder of images>",))


def load_image_data(
    name: str, *, seed: int = 0, n_train: int | None = None, root: str | os.PathLike | None = None,
    image_size: int | None = None, channels: int | None = None, verify: bool = True,
) -> ImageDataset:
    """A training image set: Stacked MNIST (`n_train` stacks, stacking seed `seed`), MNIST or CIFAR-10 training
    split from `root` (else $MODEGAN_DATA), or a folder resized to `image_size` with `channels`."""
    if name in ("mnist", "stacked-mnist", "cifar10"):
        if root is None and not os.environ.get(DATA_ENV):
            raise ModeganError(f"no data directory for {name}: set data.dir (modegan train --data-dir DIR) "
                               f"or ${DATA_ENV}")
        if root is not None and not Path(root).expanduser().is_dir():
            raise ModeganError(f"data.dir {root} does not exist or is not a directory")
    if name == "stacked-mnist":
        return load_stacked_mnist(root, n=n_train or STACKED_N, seed=seed, verify=verify)
    if name == "mnist":
        return load_mnist(root, split="train", verify=verify)
    if name == "cifar10":
        return load_cifar10(root, split="train", verify=verify)
    return load_image_folder(name, size=image_size or 32, channels=channels or 3)


def image_class_labels(dataset: ImageDataset, classes: str | None = None) -> tuple[torch.Tensor, int]:
    """The class of every image of a conditional image run, and the number of classes: MNIST's digits, CIFAR-10's
    classes, a folder's subfolders; Stacked MNIST's digit triple (classes unset or `triple`: 1000 classes,
    100·d0 + 10·d1 + d2) or one channel's digit (`digit0`, `digit1`, `digit2`). A class without an example,
    or data without labels, is one line."""
    from modegan.data.images import StackedMNIST, triple_to_mode

    labels = dataset.labels
    if labels is None:
        hint = " (put each class's images in its own subfolder)" if dataset.name.startswith("folder:") else ""
        raise ModeganError(f"{dataset.name} carries no labels{hint}; a conditional run needs them")
    if isinstance(dataset, StackedMNIST):
        if classes in (None, "triple"):
            return triple_to_mode(labels), 1000
        return labels[:, int(classes[-1])].long(), 10
    labels = labels.long().reshape(-1)
    if len(labels) != dataset.n or (len(labels) and int(labels.min()) < 0):
        raise ModeganError(f"{dataset.name}: labels must be one non-negative class index per image")
    n = int(labels.max()) + 1
    empty = (torch.bincount(labels, minlength=n) == 0).nonzero().reshape(-1)
    if len(empty):
        raise ModeganError(f"{dataset.name}: class {int(empty[0])} has no example (labels must be 0..{n - 1}, "
                           "each with at least one image)")
    return labels, n
