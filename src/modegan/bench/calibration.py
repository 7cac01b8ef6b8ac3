"""Calibration rows of a toy results table, and the `≈ noise` flag of the cells they expose.

A method's number means something only beside two references scored with the runs' own evaluation
protocol (`modegan.train.run.evaluate`: `eval_samples` draws with generator seed `eval_seed`, threshold
`hq_threshold`, w1 against fresh real draws from the same generator):

- `reference: true mixture`: fresh draws from the data's own mixture, the best any sampler scores under
  this protocol (sampling noise included); for the swiss roll, from its own law. A user point cloud has no
  known law: it has no such row (resampling its rows would only measure the file against itself).
- `reference: uniform box`: uniform draws over the data's box, what a sampler that learned nothing but the
  data's range scores. For a mixture the box is the range of the means widened by 3 sigma_max on each side
  (sigma_max: the largest standard deviation of any component along any axis; the jsd_grid grid's extent).
  Without a mixture it is the training set's bounding box, not widened (there is no sigma to widen by).

A method's cell is flagged `≈ noise` when its mean is not better than the uniform row's value, in the
metric's direction (modes, hqs: higher is better; jsd_grid, tv_grid, rkl_modes, w1: lower is better).
With data.classes both rows carry labels (the true mixture's points their own classes, the uniform box's drawn
from the class probabilities), so cond_acc, within_modes and within_coverage (higher is better) are calibrated.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

TRUE_MIXTURE = "reference: true mixture"
UNIFORM_BOX = "reference: uniform box"
REFERENCES = (TRUE_MIXTURE, UNIFORM_BOX)
HIGHER_IS_BETTER = ("modes", "hqs", "cond_acc", "within_modes", "within_coverage")
LOWER_IS_BETTER = ("jsd_grid", "tv_grid", "rkl_modes", "w1")
NOISE_FLAG = "≈ noise"
NO_MIXTURE_NOTE = "no true-mixture row: a point cloud has no known distribution; the uniform box is its " \
                  "training set's bounding box"
POINT_CLOUDS = ("npy", "csv")  # ToyDataset.source of user point clouds


@dataclass(frozen=True)
class EvalProtocol:
    """What a toy run's evaluation depends on: runs sharing it can share calibration rows."""

    data: str
    data_seed: int
    n_train: int | None
    mode_probs: tuple[float, ...]
    eval_seed: int
    eval_samples: int
    hq_threshold: float
    classes: str | None = None  # data.classes: the rows then carry the conditional metrics


def eval_protocol(cfg) -> EvalProtocol | None:
    """The evaluation protocol of a toy run's config (a `RunConfig`); None for image data."""
    from modegan.data import is_image_data

    d, t = cfg.data, cfg.train
    if is_image_data(d.name) or d.image_size is not None or t.eval_samples is None:
        return None
    return EvalProtocol(d.name, d.seed, d.n_train, tuple(d.mode_probs), t.eval_seed, t.eval_samples,
                        float(t.hq_threshold), d.classes)


def uniform_box(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, hi) of the uniform reference: the means' range widened by 3 sigma_max, or the training set's box."""
    mix = dataset.mixture
    if mix is None:
        return dataset.train.min(0).values.double(), dataset.train.max(0).values.double()
    sigma_max = math.sqrt(float(np.diagonal(mix.covs, axis1=1, axis2=2).max()))
    lo, hi = mix.means.min(axis=0) - 3 * sigma_max, mix.means.max(axis=0) + 3 * sigma_max
    return torch.from_numpy(lo), torch.from_numpy(hi)


def reference_samples(dataset, label: str, n: int, generator: torch.Generator) -> torch.Tensor:
    """n draws of one reference sampler, with the generator an evaluation would draw its z with."""
    if label == TRUE_MIXTURE:
        return dataset.sample_real(n, generator)
    lo, hi = uniform_box(dataset)
    return (lo + (hi - lo) * torch.rand(n, dataset.dim, generator=generator, dtype=torch.float64)).float()


def reference_samples_labelled(dataset, label: str, n: int, generator: torch.Generator
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """With classes (data.classes): the true mixture's draws with their own classes (a perfect conditional
    sampler), or the uniform box's with labels drawn from the class probabilities by their own generator (seed
    `LABEL_SEED`), so the points and the w1 draws after them are those of the unlabelled row."""
    if label == TRUE_MIXTURE:
        return dataset.sample_real_labelled(n, generator)
    x = reference_samples(dataset, label, n, generator)
    labels = torch.multinomial(dataset.class_probs(), n, replacement=True,
                               generator=torch.Generator().manual_seed(LABEL_SEED))
    return x, labels


LABEL_SEED = 2_019


def calibration(dataset, n: int, eval_seed: int, threshold: float) -> dict[str, dict[str, float | None]]:
    """{reference label: metric values} scored exactly as `evaluate` scores a generator (NaN as None)."""
    from modegan.metrics import evaluate_toy

    out = {}
    for label in REFERENCES:
        if label == TRUE_MIXTURE and dataset.source in POINT_CLOUDS:
            continue
        rng = torch.Generator().manual_seed(eval_seed)
        labels = None
        if getattr(dataset, "class_of", None) is not None:  # labelled references: a conditional sampler's rows
            samples, labels = reference_samples_labelled(dataset, label, n, rng)
        else:
            samples = reference_samples(dataset, label, n, rng)
        metrics = evaluate_toy(samples, dataset, rng, threshold=threshold, labels=labels)
        out[label] = {k: (m.value if math.isfinite(m.value) else None) for k, m in metrics.items()}
    return out


@functools.lru_cache(maxsize=64)
def calibration_for(p: EvalProtocol) -> dict[str, dict[str, float | None]]:
    """The calibration rows of one protocol, computed once per process (results.md, CSV and report share)."""
    from modegan.data import load_dataset

    dataset = load_dataset(p.data, seed=p.data_seed, n_train=p.n_train, mode_probs=list(p.mode_probs) or None,
                           classes=p.classes)
    return calibration(dataset, p.eval_samples, p.eval_seed, p.hq_threshold)


def no_better_than(metric: str, mean: float | None, uniform: float | None) -> bool:
    """True when `mean` is not better than the uniform reference's value for this metric (flag it)."""
    if mean is None or uniform is None or not math.isfinite(mean):
        return False
    if metric in HIGHER_IS_BETTER:
        return mean <= uniform
    if metric in LOWER_IS_BETTER:
        return mean >= uniform
    return False


def noise_flags(means: dict[str, float | None], references: dict[str, dict]) -> tuple[str, ...]:
    """The metrics (in `means`' order) whose mean is no better than the uniform box's."""
    uniform = references.get(UNIFORM_BOX, {})
    return tuple(k for k, v in means.items() if no_better_than(k, v, uniform.get(k)))
