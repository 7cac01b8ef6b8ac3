"""Checkpoints that resume exactly and load with `torch.load(weights_only=True)`.

They hold only tensors and plain Python values: every module and optimiser state, every RNG
state, the step and the elapsed time. Writes go to a temporary file that is then renamed, so a
crash mid-write (or a full disk) leaves the previous checkpoint intact. Reading checks the layout
and the value types, and restoring checks that every state fits the networks the config builds, so a
corrupt, foreign or mismatched file is one ModeganError line naming it.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from modegan.device import load_generator_state
from modegan.errors import ModeganError
from modegan.train.files import atomic_write
from modegan.train.parts import Parts
from modegan.train.schedules import set_rates_

FORMAT = 1
CHECKPOINT = "checkpoint.pt"


def atomic_save(obj, path: Path) -> None:
    buf = io.BytesIO()  # serialise in memory: a failed disk write is then a plain OSError, never torch's
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())


def save_checkpoint(path: Path, parts: Parts, step: int, elapsed_s: float) -> None:
    atomic_save(
        {
            "format": FORMAT,
            "step": step,
            "elapsed_s": elapsed_s,
            "modules": {k: m.state_dict() for k, m in parts.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in parts.optimizers().items()},
            "rng": {"train": parts.rng.get_state()},
            "device": parts.placement.name,  # where it trained: a resume continues there (modegan.device)
        },
        path,
    )


def _first_line(e: Exception) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def state_dict_error(e: Exception) -> str:
    """One line for a failed `load_state_dict`: torch's first specific line (a missing key, a size mismatch)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if isinstance(e, RuntimeError) and len(lines) > 1 and lines[0].startswith("Error(s) in loading state_dict"):
        return lines[1]
    return _first_line(e)


def read_checkpoint(path: Path) -> dict:
    """The checkpoint's state, its layout and value types checked (not yet against the networks)."""
    if not path.is_file():
        raise ModeganError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise ModeganError(f"checkpoint {path} is empty (0 bytes)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # any device's file, on any machine
    except Exception as e:  # noqa: BLE001 - truncated, corrupt or foreign file: torch raises many types
        raise ModeganError(f"cannot read checkpoint {path} (truncated or not a checkpoint): "
                           f"{type(e).__name__}: {_first_line(e)}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ModeganError(f"{path} is not a modegan checkpoint (format {FORMAT})")
    _check_layout(state, path)
    return state


def _check_layout(state: dict, path: Path) -> None:
    def bad(what: str) -> ModeganError:
        return ModeganError(f"checkpoint {path} is malformed: {what}")

    step = state.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise bad(f"'step' must be a non-negative integer, got {step!r}")
    elapsed = state.get("elapsed_s")
    if isinstance(elapsed, bool) or not isinstance(elapsed, (int, float)):
        raise bad(f"'elapsed_s' must be a number, got {elapsed!r}")
    for key in ("modules", "optimizers"):
        section = state.get(key)
        if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
            raise bad(f"'{key}' must map names to state dicts")
    for name, sd in state["modules"].items():
        for k, v in sd.items():
            if not isinstance(v, torch.Tensor):
                raise bad(f"modules.{name}.{k} is a {type(v).__name__}, not a tensor")
    for name, sd in state["optimizers"].items():
        if not isinstance(sd.get("state"), dict) or not isinstance(sd.get("param_groups"), list):
            raise bad(f"optimizers.{name} has no 'state' and 'param_groups'")
    rng = state.get("rng")
    if not isinstance(rng, dict) or not isinstance(rng.get("train"), torch.Tensor) or rng["train"].dtype != torch.uint8:
        raise bad("'rng.train' must be a generator state (a uint8 tensor)")
    if not isinstance(state.get("device", "cpu"), str):
        raise bad(f"'device' must be a device name, got {state['device']!r}")


def restore(parts: Parts, state: dict, path: Path | str = CHECKPOINT) -> None:
    """Load `state` into `parts`; a state that does not fit them (another config) is one ModeganError line."""

    def mismatch(what: str, e: Exception | str) -> ModeganError:
        detail = e if isinstance(e, str) else state_dict_error(e)
        return ModeganError(f"checkpoint {path} does not fit the run's config.yaml ({what}: {detail})")

    for k, m in parts.modules().items():
        if k not in state["modules"]:
            raise mismatch("modules", f"no state for {k}")
        try:
            m.load_state_dict(state["modules"][k])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise mismatch(f"module {k}", e) from None
    extra = set(state["modules"]) - set(parts.modules())
    if extra:
        raise mismatch("modules", f"state for {', '.join(sorted(extra))}, which this config does not build")
    for k, o in parts.optimizers().items():
        if k not in state["optimizers"]:
            raise mismatch("optimizers", f"no state for {k}")
        try:
            o.load_state_dict(state["optimizers"][k])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as e:
            raise mismatch(f"optimizer {k}", e) from None
        for group in o.param_groups:
            for p in group["params"]:
                for name, v in o.state.get(p, {}).items():
                    if isinstance(v, torch.Tensor) and v.dim() > 0 and v.shape != p.shape:
                        raise mismatch(f"optimizer {k}", f"{name} of shape {tuple(v.shape)} for a parameter "
                                       f"of shape {tuple(p.shape)}")
    try:
        load_generator_state(parts.rng, state["rng"]["train"], state.get("device"))
    except (RuntimeError, ValueError, TypeError) as e:
        raise mismatch("rng", e) from None
    parts.step = state["step"]
    set_rates_(parts)  # the schedules' rates for this step of the run's (possibly extended) train.steps
