"""Weights files with metadata (DIWGAN's cached autoencoder, the MNIST classifier): atomic writes, and
reads that turn a corrupt or foreign file into one ModeganError line."""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from modegan.errors import ModeganError


def write_safetensors(path: Path, tensors: dict[str, Tensor], metadata: dict[str, str]) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(safetensors_bytes({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_safetensors(path: Path, what: str) -> tuple[dict[str, str], dict[str, Tensor]]:
    """(metadata, tensors) of `path`; `what` names the file in the error ("classifier", ...)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except Exception as e:  # corrupt or foreign file
        raise ModeganError(f"cannot read {what} {path}: {type(e).__name__}") from None
    return meta, tensors
