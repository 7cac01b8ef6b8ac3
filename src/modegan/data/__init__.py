"""Datasets. Toy: the built-in Gaussian mixtures and swiss roll (benchmarks.md §1) and user files.
Images (benchmarks.md §4–5): MNIST, Stacked MNIST, CIFAR-10, folders of images."""

from modegan.data.cifar import load_cifar10
from modegan.data.datasets import DATASETS, ToyDataset, is_image_data, load_dataset, load_image_data
from modegan.data.folder import load_image_folder
from modegan.data.images import (
    IMAGE_DATASETS,
    ImageDataset,
    StackedMNIST,
    TensorImages,
    load_image_dataset,
    load_mnist,
    load_stacked_mnist,
)
from modegan.data.mixtures import MIXTURES, GaussianMixture, load_mixture_spec, mixture
from modegan.data.pointcloud import load_csv, load_npy
from modegan.data.swissroll import sample_swissroll

__all__ = [
    "DATASETS",
    "IMAGE_DATASETS",
    "MIXTURES",
    "GaussianMixture",
    "ImageDataset",
    "StackedMNIST",
    "TensorImages",
    "ToyDataset",
    "is_image_data",
    "load_cifar10",
    "load_csv",
    "load_dataset",
    "load_image_data",
    "load_image_dataset",
    "load_image_folder",
    "load_mixture_spec",
    "load_mnist",
    "load_npy",
    "load_stacked_mnist",
    "mixture",
    "sample_swissroll",
]
