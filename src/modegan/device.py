"""Where a run trains and in what precision: decided here, once, and passed to everything else.

`train.device` is `auto | cpu | cuda | cuda:N | mps` (auto: the first CUDA device if there is one, else the
CPU). The networks, the training data, every batch and every training draw live on that device
(`torch.Generator(device=...)`), so a step makes no host round trip except where a method needs the host
(DIWGAN's exact assignment). Evaluation draws its z on the CPU with the fixed evaluation seed and moves them
to the device, so the evaluated samples depend on the weights only, not on where the draws were made.

`train.precision` is `fp32` (the default and the reference) or `bf16`: autocast of the image networks'
forward passes to bfloat16; the weights, the optimiser states and the losses stay float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from dataclasses import dataclass

import torch

from modegan.errors import ModeganError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"
PRECISIONS = ("fp32", "bf16")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d{1,3})?)$")


def check_device_name(name: object, key: str = "train.device") -> str:
    """The name itself (before asking the machine): one of auto, cpu, cuda, cuda:N, mps."""
    if not isinstance(name, str) or not _DEVICE_RE.match(name):
        raise ModeganError(f"{key}: unknown device {name!r}; allowed: {DEVICE_NAMES}")
    return name


def resolve_device(name: str, key: str = "train.device") -> torch.device:
    """The torch device a name means on this machine; a device the machine lacks is one ModeganError line."""
    check_device_name(name, key)
    if name == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModeganError(f"{key}=mps: this machine has no Apple MPS device; allowed here: {available()}")
        return torch.device("mps")
    if not torch.cuda.is_available():
        why = "torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise ModeganError(f"{key}={name}: this machine has no CUDA device ({why}, torch {torch.__version__}); "
                           f"allowed here: {available()}")
    index = int(name.split(":")[1]) if ":" in name else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise ModeganError(f"{key}={name}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", index)


def available() -> str:
    """The device names this machine can run, for error messages."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        names.append("mps")
    return ", ".join(names)


@dataclass(frozen=True)
class Placement:
    """A run's device and precision, resolved once; `autocast()` wraps the forward passes of a step."""

    device: torch.device
    precision: str = "fp32"

    @classmethod
    def of(cls, cfg, device: str | torch.device | None = None) -> Placement:
        """The run's placement: `device` (an explicit override, e.g. `--device`) or the config's train.device."""
        if isinstance(device, torch.device):
            return cls(device, cfg.train.precision)
        return cls(resolve_device(device or cfg.train.device), cfg.train.precision)

    def autocast(self):
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def generator(self, seed: int) -> torch.Generator:
        """A training generator on the device, seeded."""
        return torch.Generator(device=self.device).manual_seed(seed)

    @property
    def name(self) -> str:
        return str(self.device)

    @property
    def syncs_cheaply(self) -> bool:
        """Reading a scalar back costs nothing on the CPU; on an accelerator it waits for the queue."""
        return self.device.type == "cpu"


def load_generator_state(rng: torch.Generator, state: torch.Tensor, saved_on: str | None) -> None:
    """Restore a training generator's state saved on device `saved_on` (None: an older checkpoint, the CPU).

    The CPU (MT19937) and CUDA (Philox) generators keep different states, so a run moved to another kind of
    device cannot continue the same stream: its generator is reseeded from a hash of the saved state (the
    run stays deterministic, but it is no longer the run it would have been), with a warning.
    """
    saved_type = torch.device(saved_on or "cpu").type
    if saved_type == rng.device.type:
        rng.set_state(state)
        return
    seed = int.from_bytes(hashlib.sha256(state.numpy().tobytes()).digest()[:8], "little") >> 1
    rng.manual_seed(seed)
    warnings.warn(f"the checkpoint's random stream was drawn on {saved_on or 'cpu'}; continuing on {rng.device} "
                  "with a generator reseeded from it (deterministic, but not the draws the run would have made)",
                  stacklevel=3)
