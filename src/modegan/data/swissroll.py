"""The WGAN-GP toy swiss roll (benchmarks.md §1): no modes, so only w1 and the plots apply.

Same distribution as `sklearn.datasets.make_swiss_roll(noise=0.25)[:, [0, 2]] / 7.5`, written with torch
and an explicit generator (sklearn is not a dependency, and its global-RNG default is not reproducible).
"""

from __future__ import annotations

import math

import torch

from modegan.data.mixtures import _check_count, _check_generator

SWISSROLL_NOISE = 0.25
SWISSROLL_SCALE = 7.5


def sample_swissroll(n: int, generator: torch.Generator) -> torch.Tensor:
    """n points (float32, shape (n, 2)).

    t = 1.5π(1 + 2u), u ~ U(0, 1); (x, z) = (t cos t, t sin t) + N(0, 0.25²) per coordinate; divided by
    7.5. Draw order: u (n values), then the (n, 2) noise block. sklearn's unused y coordinate is not drawn.
    """
    n = _check_count(n)
    generator = _check_generator(generator)
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    t = 1.5 * math.pi * (1 + 2 * u)
    noise = SWISSROLL_NOISE * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    points = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) + noise
    return (points / SWISSROLL_SCALE).to(torch.float32)
