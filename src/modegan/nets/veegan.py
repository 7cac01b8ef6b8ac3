"""VEEGAN's extra networks (Srivastava et al. 2017; methods.md §4.2): the reconstructor and the joint discriminator.

The reconstructor is deterministic, F: x -> z, as in methods.md §4.2 (z_g = F(x)); both are MLPs with the
benchmark widths so that VEEGAN is compared with the other GANs at one shared architecture (methods.md §4.5).
"""

from __future__ import annotations

import torch
from torch import nn

from modegan.errors import ModeganError
from modegan.nets.mlp import build_mlp


class Reconstructor(nn.Module):
    """F: a data point -> a noise vector, trained to invert the generator in noise space (ℓ2 is natural there)."""

    def __init__(self, x_dim: int, z_dim: int, width: int = 128, depth: int = 2, **kw):
        super().__init__()
        self.x_dim = x_dim
        self.z_dim = z_dim
        self.net = build_mlp(x_dim, z_dim, width, depth, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class JointDiscriminator(nn.Module):
    """D(z, x) -> one logit per sample, on the concatenation [z, x]; tells (z, G(z)) from (F(x), x)."""

    def __init__(self, z_dim: int, x_dim: int, width: int = 128, depth: int = 2, spectral_norm: bool = False, **kw):
        super().__init__()
        self.z_dim = z_dim
        self.x_dim = x_dim
        self.net = build_mlp(z_dim + x_dim, 1, width, depth, spectral_norm=spectral_norm, **kw)

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != x.shape[0]:
            raise ModeganError(f"joint discriminator needs as many z as x; got {z.shape[0]} and {x.shape[0]}")
        return self.net(torch.cat([z, x], dim=1)).squeeze(-1)
