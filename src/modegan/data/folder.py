"""Any folder of PNG/JPEG images as a dataset, read with Pillow.

Each image is resized so its shorter side is `size` (bicubic), then center-cropped to size × size, and
converted to grayscale ("L", 1 channel) or RGB (3 channels). Files are taken in sorted path order, in
subfolders too; a file that Pillow cannot decode is an error naming it, never silently skipped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from modegan.data.images import TensorImages
from modegan.data.mixtures import _check_count
from modegan.errors import ModeganError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
CHANNEL_MODES = {1: "L", 3: "RGB"}


def _load_one(path: Path, size: int, mode: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert(mode)
            w, h = im.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            im = im.resize((nw, nh), Image.Resampling.BICUBIC)
            left, top = (nw - size) // 2, (nh - size) // 2
            im = im.crop((left, top, left + size, top + size))
            array = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ModeganError(f"cannot read image {path}: {type(e).__name__}: {e}") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def folder_labels(folder: Path, paths: list[Path]) -> torch.Tensor | None:
    """One class per first-level subfolder (sorted by name: class 0 is the first) when every image lies in one;
    None when any image lies directly in `folder` (then the folder has no labels)."""
    tops = [p.relative_to(folder).parts for p in paths]
    if any(len(t) < 2 for t in tops):
        return None
    names = sorted({t[0] for t in tops})
    index = {n: i for i, n in enumerate(names)}
    return torch.tensor([index[t[0]] for t in tops], dtype=torch.int64)


def load_image_folder(folder: str | os.PathLike, *, size: int = 32, channels: int = 3) -> TensorImages:
    """Every .png/.jpg/.jpeg under `folder` (recursively), as (channels, size, size) images; labelled by their
    first-level subfolder when every image lies in one (`folder_labels`), else without labels."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModeganError(f"image folder {folder} does not exist or is not a directory")
    size = _check_count(size, "image size")
    if channels not in CHANNEL_MODES:
        raise ModeganError(f"image channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ModeganError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    pixels = np.stack([_load_one(p, size, CHANNEL_MODES[channels]) for p in paths])
    listing = hashlib.sha256()
    for p in paths:
        listing.update(str(p.relative_to(folder)).encode() + b"\0")
    return TensorImages(
        f"folder:{folder.name}", torch.from_numpy(pixels), folder_labels(folder, paths), str(folder),
        {"n_files": len(paths), "resize": f"shorter side to {size} (bicubic), center crop",
         "content_sha256": hashlib.sha256(pixels.tobytes()).hexdigest(), "listing_sha256": listing.hexdigest()},
    )
