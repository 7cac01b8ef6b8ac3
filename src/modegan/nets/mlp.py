"""MLP generator and discriminator for the toy mixtures (benchmarks.md §3 defaults)."""

from __future__ import annotations

import torch
from torch import nn

from modegan.errors import choice_error
from modegan.nets.prior import GaussianPrior

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}
NORMS = {"none": None, "batch": nn.BatchNorm1d, "layer": nn.LayerNorm}


def build_mlp(
    in_dim: int,
    out_dim: int,
    width: int,
    depth: int,
    activation: str = "relu",
    norm: str = "none",
    spectral_norm: bool = False,
) -> nn.Sequential:
    """`depth` hidden layers of `width` units, then a linear output layer.

    Spectral normalisation wraps every linear layer (Miyato et al. 2018), so the whole network is
    1-Lipschitz up to the activations' own constants.
    """
    if activation not in ACTIVATIONS:
        raise choice_error("activation", activation, ACTIVATIONS)
    if norm not in NORMS:
        raise choice_error("norm", norm, NORMS)

    def linear(i: int, o: int) -> nn.Module:
        layer = nn.Linear(i, o)
        return nn.utils.parametrizations.spectral_norm(layer) if spectral_norm else layer

    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers.append(linear(d, width))
        if NORMS[norm] is not None:
            layers.append(NORMS[norm](width))
        layers.append(ACTIVATIONS[activation]())
        d = width
    layers.append(linear(d, out_dim))
    return nn.Sequential(*layers)


class MLPGenerator(GaussianPrior, nn.Module):
    """z ~ N(0, I) of dimension `z_dim` -> a point in data space."""

    def __init__(self, z_dim: int, out_dim: int, width: int = 128, depth: int = 3, **kw):
        super().__init__()
        self.z_dim = z_dim
        self.out_dim = out_dim
        self.net = build_mlp(z_dim, out_dim, width, depth, **kw)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)



class MLPDiscriminator(nn.Module):
    """A point -> one unbounded score per sample (a logit for GAN losses, f(x) for a critic)."""

    def __init__(self, in_dim: int, width: int = 128, depth: int = 2, **kw):
        super().__init__()
        self.in_dim = in_dim
        self.net = build_mlp(in_dim, 1, width, depth, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)
