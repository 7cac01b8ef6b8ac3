"""Evaluation metrics. Toy mixtures: benchmarks.md §2. Images: benchmarks.md §4–5 (classifier, images)."""

from modegan.metrics.classifier import Classifier, MnistCNN, load_classifier, train_classifier
from modegan.metrics.images import (
    RandomCNN,
    digit_metrics,
    evaluate_images,
    feature_metrics,
    frechet_distance,
    kid,
    prdc,
    stacked_kl,
    stacked_modes,
)
from modegan.metrics.toy import (
    GridReference,
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

__all__ = [
    "Classifier",
    "MnistCNN",
    "RandomCNN",
    "digit_metrics",
    "evaluate_images",
    "feature_metrics",
    "frechet_distance",
    "kid",
    "load_classifier",
    "prdc",
    "stacked_kl",
    "stacked_modes",
    "train_classifier",
    "GridReference",
    "Metric",
    "evaluate_toy",
    "grid_reference",
    "hqs",
    "jensen_shannon",
    "jsd_grid",
    "modes",
    "nearest_component",
    "rkl_modes",
    "w1",
]
