"""Lipschitz constraints on the discriminator: weight clipping and the gradient penalty.

Spectral normalisation is the third; it is a property of the network (`build_mlp(spectral_norm=True)`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Clamp every parameter to [-c, c] in place (WGAN, Arjovsky et al. 2017, after each critic step)."""
    for p in module.parameters():
        p.clamp_(-c, c)


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator,
    center: float = 1.0,
    group: int = 1,
) -> Tensor:
    """Per-input (‖∇_x̂ D(x̂)‖₂ − center)² at random interpolates x̂ = εx + (1−ε)x̃.

    Gulrajani et al. 2017, Algorithm 1: one ε ~ U[0, 1] per critic input, shared by all its coordinates;
    the norm runs over all input dimensions of that input; two-sided. `create_graph=True` so the
    penalty's own gradient reaches the critic's parameters. Multiply by λ and reduce outside.
    With a packed critic (PacGAN) one input is `group` consecutive samples: they share ε and one norm.
    """
    return penalty_at(critic, real, fake, interpolation_eps(real, generator, group), center, group)


def interpolation_eps(real: Tensor, generator: torch.Generator, group: int = 1) -> Tensor:
    """The ε of `gradient_penalty`, one per critic input: shape (n, 1, ...) for a batch `real` of n·group samples."""
    n = real.shape[0] // group
    eps_shape = (n,) + (1,) * (real.dim() - 1)
    return torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)


def penalty_at(
    critic: nn.Module, real: Tensor, fake: Tensor, eps: Tensor, center: float = 1.0, group: int = 1,
    stacked: bool = False,
) -> Tensor:
    """The penalty at the interpolates of the given ε. `stacked`: real, fake and ε carry a leading axis of
    independent runs (batched seeds, each ε drawn from its own generator); the result is then (S, n).
    The critic's output for one run depends only on that run's inputs, so the gradient of the summed scores
    is every input's own gradient."""
    lead = int(stacked)
    n = real.shape[lead] // group
    if group > 1:
        eps = eps.repeat_interleave(group, dim=lead)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(*real.shape[:lead], n, -1).norm(dim=-1)
    return (norms - center) ** 2


def input_gradient_norms(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator,
                         group: int = 1) -> dict[str, dict[str, float]]:
    """‖∇ₓD(x)‖₂ at real, generated and interpolated inputs (one ε per input, as the penalty draws them): the
    mean and max of each, so a run's Lipschitz behaviour is visible (WGAN-GP asks for 1 on interpolates; the
    max over interpolates is the empirical Lipschitz constant of docs/theory.md §3).

    A packed critic's input is `group` samples: one norm per pack. The critic's buffers (batch-norm
    statistics, spectral norm's power-iteration vectors) are put back afterwards and its parameters' gradients
    are untouched, so measuring changes nothing in the run. Through batch norm the gradient of one input also
    carries the batch statistics' share, as the penalty's does.
    """
    saved = {k: b.clone() for k, b in critic.named_buffers()}
    eps = interpolation_eps(real, generator, group).to(real.device)
    if group > 1:
        eps = eps.repeat_interleave(group, dim=0)
    out = {}
    try:
        for name, x in (("real", real), ("fake", fake), ("interp", eps * real + (1 - eps) * fake)):
            x = x.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(critic(x).sum(), x)
            norms = grad.reshape(x.shape[0] // group, -1).norm(dim=-1)
            out[name] = {"mean": float(norms.mean()), "max": float(norms.max())}
    finally:
        with torch.no_grad():
            for k, b in critic.named_buffers():
                b.copy_(saved[k])
    return out
