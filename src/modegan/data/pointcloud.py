"""User point clouds (`.npy` / `.csv`, one row a point): no known modes, so only w1 and the plots apply.

Loading is strict because a silently mangled file (a skipped row, a NaN) would quietly change results:
every problem is reported as one line naming the file and, for CSV, the line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from modegan.errors import ModeganError


def _check_points(points: np.ndarray, path: str, row_names: list[str]) -> np.ndarray:
    """Shared checks: 2-D, ≥ 2 rows, ≥ 1 column, finite (also after the cast to float32)."""
    if points.ndim != 2:
        raise ModeganError(f"{path}: expected a 2-D array (one row a point), got {points.ndim}-D")
    if points.shape[0] < 2:
        raise ModeganError(f"{path}: need at least 2 points, got {points.shape[0]}")
    if points.shape[1] < 1:
        raise ModeganError(f"{path}: points have no coordinates")
    bad = ~np.isfinite(points)
    if bad.any():
        first = int(np.argmax(bad.any(axis=1)))
        raise ModeganError(
            f"{path}: {int(bad.sum())} non-finite values (NaN/Inf) in {int(bad.any(axis=1).sum())} rows; "
            f"first at {row_names[first]}"
        )
    with np.errstate(over="ignore"):
        as32 = points.astype(np.float32)
    if not np.all(np.isfinite(as32)):
        first = int(np.argmax(~np.isfinite(as32).all(axis=1)))
        raise ModeganError(f"{path}: values too large for float32; first at {row_names[first]}")
    return as32


def _read_npy(path: str, what: str):
    """np.load without pickles; a missing or unreadable file is one line naming `what` it was."""
    if not Path(path).is_file():
        raise ModeganError(f"{what} not found: {path}")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        reason = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        raise ModeganError(f"{path}: not a readable .npy array ({reason})") from None


def load_npy(path: str | Path) -> np.ndarray:
    """A 2-D numeric array from a .npy file, as float32 (pickled object arrays are refused)."""
    path = str(path)
    array = _read_npy(path, "point cloud")
    if not isinstance(array, np.ndarray):
        raise ModeganError(f"{path}: expected a single array, got {type(array).__name__}")
    if array.dtype.kind not in "fiu":
        raise ModeganError(f"{path}: expected a numeric (float or int) array, got dtype {array.dtype}")
    if array.ndim != 2:
        hint = f"; for 1-D data save shape ({array.shape[0]}, 1)" if array.ndim == 1 else ""
        raise ModeganError(f"{path}: expected a 2-D array (one row a point), got shape {array.shape}{hint}")
    row_names = [f"row {i}" for i in range(array.shape[0])]
    return _check_points(array.astype(np.float64), path, row_names)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def load_csv(path: str | Path) -> np.ndarray:
    """Comma-separated rows of numbers, as float32. Blank lines are skipped; the first non-blank line may
    be a header of non-numeric column names."""
    return load_csv_labelled(path)[0]


def _integer_labels(values: np.ndarray, path: str, where: list[str]) -> np.ndarray:
    """Class indices 0..C-1, each with an example; one line naming the first bad value otherwise."""
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModeganError(f"{path}: label {float(values[i]):g} at {where[i]} is not a non-negative integer "
                           "class index")
    labels = values.astype(np.int64)
    counts = np.bincount(labels)
    if (counts == 0).any():
        raise ModeganError(f"{path}: class {int(np.argmax(counts == 0))} has no example (labels must be "
                           f"0..{len(counts) - 1}, each with at least one row)")
    return labels


def load_npy_labels(path: str | Path, n_rows: int) -> np.ndarray:
    """A second .npy of one integer class per point-cloud row (data.labels)."""
    path = str(path)
    array = _read_npy(path, "labels file")
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu" or array.ndim != 1:
        raise ModeganError(f"{path}: expected a 1-D numeric array of class indices, one per row")
    if len(array) != n_rows:
        raise ModeganError(f"{path}: {len(array)} labels for {n_rows} points; give one per row")
    return _integer_labels(array.astype(np.float64), path, [f"row {i}" for i in range(len(array))])


def load_csv_labelled(path: str | Path, label_column: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """`load_csv`, and with `label_column` (a header name, or a 0-based index) that column taken out of the
    points as integer class labels (data.label_column, `--label-column`)."""
    path = str(path)
    if not Path(path).is_file():
        raise ModeganError(f"point cloud not found: {path}")
    rows: list[list[float]] = []
    row_names: list[str] = []
    n_cols: int | None = None
    header: list[str] | None = None
    seen_first = False
    try:
        with open(path, encoding="utf-8", newline="") as f:
            for lineno, fields in enumerate(csv.reader(f), start=1):
                fields = [field.strip() for field in fields]
                if not fields or all(field == "" for field in fields):
                    continue
                if not seen_first:
                    seen_first = True
                    if not any(_is_number(field) for field in fields):
                        n_cols = len(fields)  # a header row: names only, fixes the column count
                        header = fields
                        continue
                if n_cols is None:
                    n_cols = len(fields)
                if len(fields) != n_cols:
                    raise ModeganError(f"{path}, line {lineno}: expected {n_cols} values, got {len(fields)}")
                values = []
                for field in fields:
                    try:
                        values.append(float(field))
                    except ValueError:
                        raise ModeganError(f"{path}, line {lineno}: not a number: {field!r}") from None
                rows.append(values)
                row_names.append(f"line {lineno}")
    except UnicodeDecodeError:
        raise ModeganError(f"{path}: not a UTF-8 text file") from None
    except csv.Error as e:
        raise ModeganError(f"{path}: malformed CSV ({e})") from None
    except OSError as e:
        raise ModeganError(f"{path}: cannot read ({e.__class__.__name__})") from None
    if not rows:
        raise ModeganError(f"{path}: no data rows")
    table = np.array(rows, dtype=np.float64)
    if label_column is None:
        return _check_points(table, path, row_names), None
    if header is not None and label_column in header:
        col = header.index(label_column)
    elif label_column.isdigit() and int(label_column) < table.shape[1]:
        col = int(label_column)
    else:
        names = f"; its columns: {', '.join(header)}" if header else f"; it has {table.shape[1]} columns (0-based)"
        raise ModeganError(f"{path}: no label column {label_column!r}{names}")
    if table.shape[1] < 2:
        raise ModeganError(f"{path}: the label column is the only column; the points need coordinates")
    labels = _integer_labels(table[:, col], path, row_names)
    return _check_points(np.delete(table, col, axis=1), path, row_names), labels
