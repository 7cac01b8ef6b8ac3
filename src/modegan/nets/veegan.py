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
        return self.net(x.flatten(1))  # rows of any shape (modegan.fit's images) as flat vectors


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


def _dcgan_body(size: int, channels: int, width: int) -> tuple[nn.Module, int]:
    """A DCGAN discriminator without its final conv: images -> (N, 4w·4·4) features, and that width."""
    from modegan.nets.dcgan import DCGANDiscriminator

    body = DCGANDiscriminator(size, channels, width).net[:-1]
    return nn.Sequential(*body, nn.Flatten()), 4 * width * 16


class ConvReconstructor(nn.Module):
    """F for images: the DCGAN discriminator's conv body, then a linear map to the noise space."""

    def __init__(self, size: int, channels: int, z_dim: int, width: int = 64):
        super().__init__()
        self.z_dim = z_dim
        self.body, feat = _dcgan_body(size, channels, width)
        self.out = nn.Linear(feat, z_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class ConvJointDiscriminator(nn.Module):
    """D(z, x) for images: the DCGAN conv body embeds x, its features are concatenated with z and scored by a
    one-hidden-layer MLP (LeakyReLU 0.2) -> one logit per sample, as in VEEGAN's and ALI's image models."""

    def __init__(self, size: int, channels: int, z_dim: int, width: int = 64, hidden: int = 512):
        super().__init__()
        self.z_dim = z_dim
        self.body, feat = _dcgan_body(size, channels, width)
        self.head = nn.Sequential(nn.Linear(feat + z_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if z.shape[0] != x.shape[0]:
            raise ModeganError(f"joint discriminator needs as many z as x; got {z.shape[0]} and {x.shape[0]}")
        return self.head(torch.cat([z, self.body(x)], dim=1)).squeeze(-1)
