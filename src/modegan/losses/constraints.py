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
    n = real.shape[0] // group
    eps_shape = (n,) + (1,) * (real.dim() - 1)
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    if group > 1:
        eps = eps.repeat_interleave(group, dim=0)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.reshape(n, -1).norm(dim=1)
    return (norms - center) ** 2
