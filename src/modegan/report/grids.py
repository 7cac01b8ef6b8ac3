"""Image grids as PNG files: the look-at-the-samples check for image GANs (benchmarks.md §5)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from modegan.data.images import to_uint8
from modegan.data.mixtures import _check_count
from modegan.errors import ModeganError


def grid_array(images: Tensor, nrow: int = 8, padding: int = 2, pad_value: int = 0) -> np.ndarray:
    """(N, C, H, W) floats in [-1, 1] (C = 1 or 3) → one uint8 (rows·(H+p)+p, nrow·(W+p)+p[, 3]) array,
    images left to right then top to bottom, `padding` pixels of `pad_value` around each."""
    if not isinstance(images, Tensor) or images.dim() != 4 or len(images) < 1 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ModeganError(f"grid images must be a tensor (N, 1 or 3, H, W), got {shape}")
    nrow = _check_count(nrow, "nrow")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ModeganError(f"grid padding must be a non-negative integer, got {padding!r}")
    pixels = to_uint8(torch.nan_to_num(images.detach().cpu(), nan=-1.0)).numpy()
    n, c, h, w = pixels.shape
    cols, rows = min(nrow, n), math.ceil(n / nrow)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = pixels[i]
    return grid[0] if c == 1 else grid.transpose(1, 2, 0)


def image_grid_png(path: str | os.PathLike, images: Tensor, nrow: int = 8, padding: int = 2) -> Path:
    """Write `images` (values in [-1, 1]) as a PNG grid with `nrow` images per row; returns the path."""
    from PIL import Image

    array = grid_array(images, nrow, padding)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")
    return path
