"""Keep freed memory in the process instead of handing it back to the OS after every training step.

glibc maps every allocation of 128 KiB or more afresh and trims the heap top as soon as more than
twice that is free. A training step frees and reallocates the same activations each time, so those
pages are faulted in again on every step; for the benchmark's small networks the page faults cost as
much as the arithmetic, and more for stacked seeds, whose tensors are S times larger
(`benchmarks/batched_seeds.py`). Raising both thresholds once per process removes them. The numbers
computed do not change. The CLI and the benchmark's worker processes call this; a library user can
too, or set MODEGAN_MALLOC=default to keep glibc's behaviour.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # allocations below 32 MiB (glibc's largest allowed) come from the heap,
TRIM_THRESHOLD = 1 << 30  # which is trimmed only when more than 1 GiB at its top is free


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (and children forked later).
    Returns whether they were set: False off glibc, or with MODEGAN_MALLOC=default."""
    if os.environ.get("MODEGAN_MALLOC", "").strip().lower() == "default":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
