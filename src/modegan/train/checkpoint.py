"""Checkpoints that resume exactly and load with `torch.load(weights_only=True)`.

They hold only tensors and plain Python values: every module and optimiser state, every RNG
state, the step and the elapsed time. Writes go to a temporary file that is then renamed, so a
crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from modegan.errors import ModeganError
from modegan.train.parts import Parts

FORMAT = 1
CHECKPOINT = "checkpoint.pt"


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: Path, parts: Parts, step: int, elapsed_s: float) -> None:
    atomic_save(
        {
            "format": FORMAT,
            "step": step,
            "elapsed_s": elapsed_s,
            "modules": {k: m.state_dict() for k, m in parts.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in parts.optimizers().items()},
            "rng": {"train": parts.rng.get_state()},
        },
        path,
    )


def read_checkpoint(path: Path) -> dict:
    if not path.is_file():
        raise ModeganError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt or foreign file
        raise ModeganError(f"cannot read checkpoint {path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModeganError(f"{path} is not a modegan checkpoint (format {FORMAT})")
    return state


def restore(parts: Parts, state: dict) -> None:
    for k, m in parts.modules().items():
        m.load_state_dict(state["modules"][k])
    for k, o in parts.optimizers().items():
        o.load_state_dict(state["optimizers"][k])
    parts.rng.set_state(state["rng"]["train"])
    parts.step = state["step"]
