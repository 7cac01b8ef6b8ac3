"""Convolutional auto-encoder for DIWGAN on images (methods.md §3.3 A12).

Encoder: Conv(5×5, w, s2) → Conv(5×5, 2w, s2) → Conv(5×5, 4w, s2) → FC 1024 → FC latent (w = 32, so
32/64/128 channels as in A12); decoder: FC → 3 ConvTranspose(5×5, s2) mirrored, tanh output for data in
[-1, 1]. LeakyReLU(0.2) in the encoder, ReLU in the decoder. A12 suggests latent 16 for MNIST, 32 for
Stacked MNIST.

Drop-in for `nets.autoencoder.MLPAutoencoder`: same attributes (`in_dim` = C·H·W, `latent_dim`, `encoder`,
`decoder`) and methods (`encode`, `decode`, `forward`), and the encoder takes flattened rows (n, C·H·W) as
well as images (n, C, H, W), so `pretrain_autoencoder` and `DualImportanceLoss`, which work on 2-D
tensors, accept it unchanged. `forward` returns the reconstruction in the input's own layout; `decode`
returns images (n, C, H, W).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from modegan.data.mixtures import _check_count
from modegan.errors import ModeganError

SIZES = (28, 32)
FC_WIDTH = 1024


def _as_images(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    if x.dim() == 2 and x.shape[1] == math.prod(shape):
        return x.reshape(x.shape[0], *shape)
    if x.dim() == 4 and tuple(x.shape[1:]) == shape:
        return x
    c, h, w = shape
    raise ModeganError(f"autoencoder input must be (n, {c}, {h}, {w}) or (n, {c * h * w}), got {tuple(x.shape)}")


class ConvEncoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], latent_dim: int, width: int):
        super().__init__()
        self.shape = shape
        c, w = shape[0], width
        self.convs = nn.Sequential(
            nn.Conv2d(c, w, 5, 2, 2), nn.LeakyReLU(0.2),  # 28 → 14 (32 → 16)
            nn.Conv2d(w, 2 * w, 5, 2, 2), nn.LeakyReLU(0.2),  # → 7 (8)
            nn.Conv2d(2 * w, 4 * w, 5, 2, 2), nn.LeakyReLU(0.2),  # → 4 (4)
            nn.Flatten(),
            nn.Linear(4 * w * 16, FC_WIDTH), nn.LeakyReLU(0.2),
            nn.Linear(FC_WIDTH, latent_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.convs(_as_images(x, self.shape))


class ConvDecoder(nn.Module):
    def __init__(self, shape: tuple[int, int, int], latent_dim: int, width: int):
        super().__init__()
        c, size = shape[0], shape[1]
        w = width
        pads = (0, 1, 1) if size == 28 else (1, 1, 1)  # output_padding: 4 → 7 → 14 → 28, or 4 → 8 → 16 → 32
        self.fc = nn.Sequential(nn.Linear(latent_dim, 4 * w * 16), nn.ReLU())
        self.width = w
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(4 * w, 2 * w, 5, 2, 2, output_padding=pads[0]), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 5, 2, 2, output_padding=pads[1]), nn.ReLU(),
            nn.ConvTranspose2d(w, c, 5, 2, 2, output_padding=pads[2]), nn.Tanh(),
        )

    def forward(self, s: Tensor) -> Tensor:
        return self.deconvs(self.fc(s).reshape(s.shape[0], 4 * self.width, 4, 4))


class ConvAutoencoder(nn.Module):
    """Images (C, size, size), size 28 or 32 → `latent_dim` codes → images."""

    def __init__(self, shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 16, width: int = 32):
        super().__init__()
        if len(shape) != 3 or shape[1] != shape[2] or shape[1] not in SIZES:
            raise ModeganError(f"conv autoencoder image shape must be (C, 28, 28) or (C, 32, 32), got {shape}")
        self.shape = (_check_count(shape[0], "image channels"), int(shape[1]), int(shape[2]))
        self.in_dim = math.prod(self.shape)
        self.latent_dim = _check_count(latent_dim, "autoencoder latent dimension")
        self.hidden = self.width = _check_count(width, "autoencoder width")
        self.encoder = ConvEncoder(self.shape, self.latent_dim, self.width)
        self.decoder = ConvDecoder(self.shape, self.latent_dim, self.width)

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, s: Tensor) -> Tensor:
        return self.decoder(s)

    def forward(self, x: Tensor) -> Tensor:
        """The reconstruction decode(encode(x)), in x's layout (flat rows or images)."""
        return self.decoder(self.encoder(x)).reshape(x.shape)
