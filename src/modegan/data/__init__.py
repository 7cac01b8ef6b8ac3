"""Toy datasets: the built-in Gaussian mixtures and swiss roll (benchmarks.md §1) and user files."""

from modegan.data.datasets import DATASETS, ToyDataset, load_dataset
from modegan.data.mixtures import MIXTURES, GaussianMixture, load_mixture_spec, mixture
from modegan.data.pointcloud import load_csv, load_npy
from modegan.data.swissroll import sample_swissroll

__all__ = [
    "DATASETS",
    "MIXTURES",
    "GaussianMixture",
    "ToyDataset",
    "load_csv",
    "load_dataset",
    "load_mixture_spec",
    "load_npy",
    "mixture",
    "sample_swissroll",
]
