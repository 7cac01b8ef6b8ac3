"""DCGAN generator and discriminator (Radford, Metz, Chintala 2016) for 28×28 and 32×32 images.

G: z (N(0, I), `z_dim`) → transposed convs, BatchNorm + ReLU between them, tanh output in [-1, 1].
D: strided convs with LeakyReLU(0.2), BatchNorm on every conv but the first, no pooling, one logit per
sample, shape (N,). Weights start from N(0, 0.02) (BatchNorm scales N(1, 0.02)), as in the paper.
A critic trained with a gradient penalty must not use batch norm: the penalty is per sample, and batch
statistics couple the samples (Gulrajani et al. 2017, §4). `norm="layer"` replaces it with their code's
layer norm (igul222/improved_wgan_training, tflib/ops/layernorm.py, used by gan_64x64.py's critic for
wgan-gp: statistics over C, H, W of each sample, a per-channel scale 1 and offset 0, eps 1e-5), which is
exactly `nn.GroupNorm(1, C)`; `norm="none"` has no normalisation, as their gan_mnist.py / gan_cifar.py critics.

Widths (w = `width`): 28×28 G is z → 4w@3×3 → 2w@7×7 → w@14×14 → C@28×28 and D mirrors it
(C@28 → w@14 → 2w@7 → 4w@4 → logit); 32×32 G is z → 4w@4×4 → 2w@8 → w@16 → C@32 and D mirrors it.
G and D widths are separate so that Stacked MNIST's "Unrolled setting" (D with 1/4 of G's width,
benchmarks.md §4) is `DCGANDiscriminator(width=g_width // 4)`. A PacGAN discriminator is one built with
`channels = m · C` inside `nets.packing.PackedDiscriminator`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modegan.data.mixtures import _check_count
from modegan.errors import ModeganError
from modegan.nets.prior import GaussianPrior

SIZES = (28, 32)
Z_DIM = 100


def _check_size(size: int) -> int:
    if size not in SIZES:
        raise ModeganError(f"DCGAN image size must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    return size


@torch.no_grad()
def dcgan_init_(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Radford et al.'s initialisation: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02), biases 0.
    Draws from `generator` when given (reproducible without touching the global RNG)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            m.weight.copy_(torch.randn(m.weight.shape, generator=generator) * 0.02)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(1 + torch.randn(m.weight.shape, generator=generator) * 0.02)
            m.bias.zero_()
    return module


D_NORMS = ("batch", "layer", "none")
NORMS = D_NORMS


def _norm_layer(norm: str, o: int) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm2d(o)]
    if norm == "layer":
        return [nn.GroupNorm(1, o, eps=1e-5)]  # one group: each sample's C, H, W; per-channel affine
    return []


def _up(i: int, o: int, k: int, s: int, p: int, norm: str = "batch") -> list[nn.Module]:
    return [nn.ConvTranspose2d(i, o, k, s, p, bias=norm == "none"), *_norm_layer(norm, o), nn.ReLU(True)]


def _down(i: int, o: int, k: int, s: int, p: int, norm: str = "batch") -> list[nn.Module]:
    return [nn.Conv2d(i, o, k, s, p, bias=norm == "none"), *_norm_layer(norm, o), nn.LeakyReLU(0.2, True)]


class DCGANGenerator(GaussianPrior, nn.Module):
    """z ~ N(0, I_{z_dim}) → an image (N, channels, size, size) in [-1, 1].

    `norm` normalises every transposed conv but the last: batch (DCGAN's), layer (`nn.GroupNorm(1, C)`, as the
    critic's) or none (the convs then carry biases)."""

    def __init__(
        self, size: int = 28, channels: int = 1, z_dim: int = Z_DIM, width: int = 64,
        generator: torch.Generator | None = None, norm: str = "batch",
    ):
        super().__init__()
        if norm not in NORMS:
            raise ModeganError(f"DCGAN generator norm {norm!r} is not allowed; allowed: {', '.join(NORMS)}")
        self.norm = norm
        self.size, self.channels = _check_size(size), _check_count(channels, "image channels")
        self.z_dim, self.width = _check_count(z_dim, "z_dim"), _check_count(width, "generator width")
        w = self.width
        if size == 28:  # 1 → 3 → 7 → 14 → 28
            first, second = (3, 1, 0), (3, 2, 0)
        else:  # 1 → 4 → 8 → 16 → 32
            first, second = (4, 1, 0), (4, 2, 1)
        self.net = nn.Sequential(
            *_up(self.z_dim, 4 * w, *first, norm), *_up(4 * w, 2 * w, *second, norm), *_up(2 * w, w, 4, 2, 1, norm),
            nn.ConvTranspose2d(w, self.channels, 4, 2, 1), nn.Tanh(),
        )
        dcgan_init_(self, generator)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.reshape(z.shape[0], self.z_dim, 1, 1))



def spectral_norm_convs_(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of every conv, in place, after initialisation: each
    weight reshaped to (out, in·k·k) is divided by its largest singular value, estimated by one power
    iteration per training forward pass, as Miyato et al. do for convolutions."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.utils.parametrizations.spectral_norm(m)
    return module


class DCGANDiscriminator(nn.Module):
    """An image (N, channels, size, size) → one unbounded score per sample, shape (N,).

    `norm` normalises every conv but the first: batch (DCGAN's), layer or none (for a gradient penalty).
    `spectral_norm` normalises every conv's weight (`spectral_norm_convs_`).
    """

    def __init__(
        self, size: int = 28, channels: int = 1, width: int = 64, generator: torch.Generator | None = None,
        norm: str = "batch", spectral_norm: bool = False,
    ):
        super().__init__()
        self.size, self.channels = _check_size(size), _check_count(channels, "image channels")
        self.width = _check_count(width, "discriminator width")
        if norm not in D_NORMS:
            raise ModeganError(f"DCGAN discriminator norm {norm!r} is not allowed; allowed: {', '.join(D_NORMS)}")
        self.norm = norm
        w = self.width
        third = (3, 2, 1) if size == 28 else (4, 2, 1)  # 7 → 4 (28) or 8 → 4 (32)
        self.net = nn.Sequential(
            *_down(self.channels, w, 4, 2, 1, norm="none"), *_down(w, 2 * w, 4, 2, 1, norm),
            *_down(2 * w, 4 * w, *third, norm), nn.Conv2d(4 * w, 1, 4, 1, 0),
        )
        dcgan_init_(self, generator)
        if spectral_norm:
            spectral_norm_convs_(self)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.size, self.size):
            raise ModeganError(
                f"discriminator expects images (N, {self.channels}, {self.size}, {self.size}), got {tuple(x.shape)}"
            )
        return self.net(x).reshape(x.shape[0])
