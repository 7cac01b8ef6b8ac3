"""Every limit on user input, in one place, with the checks that enforce them before anything is allocated
or written. The CLI, the config validation, the loaders and the benchmarks all call these, so a value that
cannot fit is one `error:` line naming the limit, never a traceback from inside torch.

The limits are fixed (not derived from this machine's free memory), so a config valid here is valid
everywhere, and documented in the README's "Command line" section.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path

from modegan.errors import ModeganError

MAX_SEED = 2**63 - 1  # seeds are integers in [0, 2**63 - 1]: torch.Generator.manual_seed takes 64 bits, runs add +1, +2
MAX_STEPS = 10**9  # generator steps, evaluation / checkpoint cadences, autoencoder steps
MAX_ELEMENTS = 2**28  # the largest tensor an input may ask for: 268,435,456 values (1 GiB of float32)
MAX_LR = 10.0  # learning rates are in (0, 10]
MAX_SCALE = 1e6  # loss weights, clip, gradient-penalty centre, temperatures, thresholds, diwgan.alpha
MAX_THREADS = 1024  # torch threads (train.threads, classifier train --threads)
MAX_WORKERS = 256  # benchmark processes (--workers)
MAX_BENCH_SEEDS = 1000  # --seeds of a benchmark
MAX_DEPTH = 1000  # hidden layers of an MLP
MAX_N_CRITIC = 1000  # discriminator steps per generator step
MAX_UNROLL = 100  # unrolled discriminator steps (each keeps a copy of D in the graph)
MAX_EMBED_DIM = 4096  # a label embedding's dimension (model.embed_dim)
MAX_EPOCHS = 10_000  # classifier train --epochs


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value: object, what: str, lo: int, hi: int) -> int:
    """An integer in [lo, hi], else one line naming `what` and the allowed range."""
    if not _is_int(value):
        raise ModeganError(f"{what}: expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ModeganError(f"{what}: must be in [{lo:,}, {hi:,}], got {value:,}")
    return int(value)


def check_seed(value: object, what: str = "seed") -> int:
    return check_int(value, what, 0, MAX_SEED)


def check_elements(what: str, n: int, hint: str = "") -> None:
    """Refuse a tensor of more than MAX_ELEMENTS values (before it is allocated)."""
    if n > MAX_ELEMENTS:
        extra = f"; {hint}" if hint else ""
        raise ModeganError(f"{what} needs a tensor of {n:,} values, above the limit of {MAX_ELEMENTS:,} "
                           f"(2**28){extra}")


def per_sample_elements(arch: str, width: int, z_dim: int, dim: int, size: int | None = None) -> int:
    """The widest activation of one sample through a network of `width`: an MLP's widest layer, a DCGAN's
    widest feature map (width x (size/2)^2) or the sample itself."""
    if arch == "dcgan":
        return max(dim, width * (size // 2) ** 2, z_dim)
    return max(width, z_dim, dim)


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_out_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """A directory to create or reuse for output: not empty, not a file, under a writable directory.
    Creates nothing."""
    text = os.fspath(path)
    if not text.strip():
        raise ModeganError(f"{flag}: empty path; give a directory")
    p = Path(text).expanduser()
    if p.exists() and not p.is_dir():
        raise ModeganError(f"{flag} {p} exists and is not a directory")
    _check_writable_dir(p, flag, p)
    return p


def check_out_file(path: str | os.PathLike, flag: str, suffix: str | None = None) -> Path:
    """A file to write: not empty, not a directory, with `suffix` if given, under a writable directory."""
    text = os.fspath(path)
    if not text.strip():
        raise ModeganError(f"{flag}: empty path; give a file")
    p = Path(text).expanduser()
    if suffix is not None and p.suffix != suffix:
        raise ModeganError(f"{flag} must be a {suffix} file, got {p}")
    if p.is_dir():
        raise ModeganError(f"{flag} {p} is a directory; give a file")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise ModeganError(f"{flag} {p} is not writable")
    else:
        _check_writable_dir(p.parent, flag, p)
    return p


def _check_writable_dir(d: Path, flag: str, shown: Path) -> None:
    """`d` (to be created if missing) can hold new files: its nearest existing ancestor is a writable directory."""
    base = _nearest_existing(d)
    if not base.is_dir():
        raise ModeganError(f"{flag} {shown}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ModeganError(f"{flag} {shown}: {base} is not writable")
