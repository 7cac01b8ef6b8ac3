"""Writing a run's files: atomic replaces and appends that lose nothing on a full disk, and the run lock.

Every file of a run directory is written through `atomic_write` (a temporary `NAME.tmp`, fsync, rename) or
`append_line` (metrics.jsonl). A failed write (no space left, quota, read-only file system, permissions, ...)
becomes one `ModeganError` line naming the file; the temporary file is removed (a failed append is cut back),
so the previous version of the file stays as it was.

`RunLock` holds an exclusive `fcntl.flock` on `RUN/.lock` for as long as a process trains the run, with the
holder's PID in the file, so a second `train` into (or `--resume` of) the same directory stops at once.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modegan.errors import ModeganError

REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
LOCK = ".lock"


def write_error(path: Path, e: OSError) -> ModeganError:
    """One line for a failed write of `path`: 'no space left on device writing PATH', ..."""
    reason = REASONS.get(e.errno)
    if reason is None:
        reason = (e.strerror or type(e).__name__).lower()
    return ModeganError(f"{reason} writing {path}")


def tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _write(f, data: bytes) -> None:
    """The one place bytes reach a run file (tests replace it to simulate a full disk)."""
    f.write(data)
    f.flush()
    os.fsync(f.fileno())


@contextmanager
def writing(path: Path, cleanup: Path | None = None) -> Iterator[None]:
    """Turn an OSError raised while writing `path` into one ModeganError line; remove `cleanup` if given."""
    try:
        yield
    except OSError as e:
        if cleanup is not None:
            try:
                cleanup.unlink(missing_ok=True)
            except OSError:
                pass
        raise write_error(path, e) from None


@contextmanager
def disk_errors(default: Path) -> Iterator[None]:
    """For writers that open files themselves (csv, the report): an OSError is one line naming its file."""
    try:
        yield
    except OSError as e:
        raise write_error(Path(e.filename) if e.filename else default, e) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` by `data` all at once: readers see the old file or the new one, never a part."""
    path = Path(path)
    tmp = tmp_path(path)
    with writing(path, cleanup=tmp):
        with open(tmp, "wb") as f:
            _write(f, data)
        os.replace(tmp, path)


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """`atomic_write` for a writer that takes a path (matplotlib, PIL): it writes the temporary file, named
    tmp-NAME so that the writer still sees the format in the suffix (and `step_*.png` globs do not match it)."""
    path = Path(path)
    tmp = path.with_name(f"tmp-{path.name}")
    with writing(path, cleanup=tmp):
        write(tmp)
        os.replace(tmp, path)


def append_line(path: Path, line: str) -> None:
    """Append one line; on a failed write the file is cut back to its old length (no torn line is left)."""
    path = Path(path)
    with writing(path):
        with open(path, "ab") as f:
            size = f.tell()
            try:
                _write(f, (line + "\n").encode())
            except OSError:
                try:
                    f.truncate(size)
                except OSError:
                    pass  # a torn last line is dropped by the next resume
                raise


def remove_stale_tmp(directory: Path) -> None:
    """Delete the `*.tmp` files an earlier, killed writer left (call it only while holding the run lock)."""
    for d in (directory, directory / "samples"):
        if d.is_dir():
            for t in [*d.glob("*.tmp"), *d.glob("tmp-*")]:
                t.unlink(missing_ok=True)


@contextmanager
def pid_lock(lock: Path, busy: Callable[[str], str]) -> Iterator[None]:
    """An exclusive, non-blocking `flock` on the file `lock` (created with its directory) with this process's
    PID written in it; when another process holds it, one ModeganError line: `busy(holder's PID)`."""
    with writing(lock):
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    f = os.fdopen(fd, "r+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = f.read().strip() or "unknown"
        f.close()
        raise ModeganError(busy(holder)) from None
    try:
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
    except OSError:
        pass  # the lock holds without the PID in it
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


_held: dict[tuple[int, Path], int] = {}  # (pid, run dir) -> depth: nested holds in one process


@contextmanager
def run_lock(directory: Path) -> Iterator[None]:
    """Hold the run directory's exclusive lock (creating the directory); a held lock is one ModeganError line
    naming the holder's PID. Re-entrant within one process (the batched trainer falls back to `train`)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ModeganError(f"output path {directory} exists and is not a directory")
    key = (os.getpid(), directory.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    with pid_lock(directory / LOCK, lambda pid: f"{directory} is in use by another modegan process (PID {pid}); "
                  "wait for it to finish or stop it, or choose another --out"):
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
