"""Controllable generation from a trained run: chosen classes, truncated z, latent interpolation.

- `truncated_z`: z ~ N(0, I) with every coordinate beyond ±ψ redrawn until inside (the truncation trick of
  Brock, Donahue, Simonyan 2019, §3.1): samples of higher fidelity and less variety as ψ shrinks.
- `slerp`: spherical interpolation, the path for Gaussian z (White 2016, 'Sampling Generative Networks'): a
  straight line between two draws passes through norms a Gaussian z almost never has.
- `interpolate`: a grid of samples, one row per path: `steps` points along the slerp between two z (a
  conditional run keeps one class per row), or, `across_classes`, one fixed z per row through every class.

Every draw comes from a `torch.Generator` seeded by the caller, on the CPU, so the samples do not depend on the
device beyond rounding. The same functions back `modegan sample --class/--labels/--truncation` and
`modegan interpolate`.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from modegan.errors import ModeganError
from modegan.limits import MAX_ELEMENTS, check_int, check_seed
from modegan.nets.conditional import ConditionalGenerator, check_labels

MAX_GRID = 1_000  # rows, or steps, of an interpolation grid


def truncated_z(n: int, z_dim: int, generator: torch.Generator, truncation: float | None = None) -> Tensor:
    """(n, z_dim) standard normal draws; with `truncation` ψ > 0, each coordinate with |z| > ψ is redrawn (in
    rounds, from the same generator) until |z| <= ψ."""
    z = torch.randn(n, z_dim, generator=generator)
    if truncation is None:
        return z
    if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not 0 < truncation < math.inf:
        raise ModeganError(f"truncation must be a positive number, got {truncation!r}")
    for _ in range(10_000):
        bad = z.abs() > truncation
        if not bad.any():
            return z
        z[bad] = torch.randn(int(bad.sum()), generator=generator)
    raise ModeganError(f"truncation {truncation:g} is too small to draw z inside it; use a larger value")


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation of rows a, b (n, d) at fractions t (s,): (n, s, d). Rows that are (nearly)
    parallel fall back to the straight line."""
    a_n, b_n = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_n * b_n).sum(-1).clamp(-1, 1))[:, None, None]  # (n, 1, 1)
    t = t[None, :, None]
    so = torch.sin(omega)
    line = (1 - t) * a[:, None] + t * b[:, None]
    arc = torch.sin((1 - t) * omega) / so * a[:, None] + torch.sin(t * omega) / so * b[:, None]
    return torch.where(so.abs() < 1e-6, line, arc)


def _generate(G, z: Tensor, labels: Tensor | None) -> Tensor:
    device = next(G.parameters()).device
    with torch.no_grad():
        if labels is None:
            return G(z.to(device)).cpu()
        return G.generate(z.to(device), labels.to(device)).cpu()


def _labels_for(G, labels, n: int, generator: torch.Generator, what: str) -> Tensor | None:
    if not isinstance(G, ConditionalGenerator):
        if labels is not None:
            raise ModeganError(f"{what} needs a conditional run (model.conditioning concat, projection or acgan); "
                               "this run's generator takes no label")
        return None
    if labels is None:
        return G.sample_labels(n, generator)
    return check_labels(labels, G.n_classes, n)


def sample_controlled(run_dir: str | Path, n: int, seed: int = 0, device: str | torch.device = "cpu", labels=None,
                      truncation: float | None = None) -> Tensor:
    """`n` samples of the run: z drawn first (truncated if asked), then the labels from the class prior unless
    given (an int for every sample, or one class index per sample)."""
    from modegan.train.load import check_sample_size, load

    check_int(n, "number of samples (-n)", 1, MAX_ELEMENTS)
    check_seed(seed, "sampling seed (--seed)")
    check_sample_size(run_dir, n)
    G = load(run_dir, device)
    rng = torch.Generator().manual_seed(seed)
    z = truncated_z(n, G.z_dim, rng, truncation)
    return _generate(G, z, _labels_for(G, labels, n, rng, "labels (--class, --labels)"))


def interpolate(run_dir: str | Path, steps: int = 10, rows: int = 8, seed: int = 0,
                device: str | torch.device = "cpu", labels=None, across_classes: bool = False,
                truncation: float | None = None) -> tuple[Tensor, Tensor | None]:
    """A grid of samples, (rows, columns, *sample shape), and the class of each cell (rows, columns) for a
    conditional run (None otherwise).

    Paths (default): row r goes from z_r to z'_r (drawn in that order, truncated if asked) in `steps` slerp
    points, end points included; a conditional run keeps one class per row (`labels`: an int, or one per row;
    default drawn from the class prior). `across_classes`: row r keeps one z_r and its columns are the classes
    0..C-1, so a row shows what the label alone changes."""
    from modegan.train.load import check_sample_size, load

    check_int(rows, "--rows", 1, MAX_GRID)
    check_seed(seed, "sampling seed (--seed)")
    G = load(run_dir, device)
    rng = torch.Generator().manual_seed(seed)
    if across_classes:
        if not isinstance(G, ConditionalGenerator):
            raise ModeganError("--across-classes needs a conditional run (model.conditioning concat, projection or "
                               "acgan); this run's generator takes no label")
        if labels is not None:
            raise ModeganError("--across-classes takes every class in turn; --class does not apply")
        c = G.n_classes
        check_sample_size(run_dir, rows * c)
        z = truncated_z(rows, G.z_dim, rng, truncation).repeat_interleave(c, dim=0)
        grid_labels = torch.arange(c).repeat(rows)
        x = _generate(G, z, grid_labels)
        return x.reshape(rows, c, *x.shape[1:]), grid_labels.reshape(rows, c)
    check_int(steps, "--steps", 2, MAX_GRID)
    check_sample_size(run_dir, rows * steps)
    z0, z1 = truncated_z(rows, G.z_dim, rng, truncation), truncated_z(rows, G.z_dim, rng, truncation)
    path = slerp(z0, z1, torch.linspace(0, 1, steps)).reshape(rows * steps, G.z_dim)
    row_labels = _labels_for(G, labels, rows, rng, "labels (--class)")
    grid_labels = None if row_labels is None else row_labels.repeat_interleave(steps)
    x = _generate(G, path, grid_labels)
    return (x.reshape(rows, steps, *x.shape[1:]),
            None if grid_labels is None else grid_labels.reshape(rows, steps))
