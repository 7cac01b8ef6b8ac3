"""Scatter plots of generated samples over the real data (2-D, or 3-D for cube27-like data; histograms for 1-D)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _scatter(fig, pos, generated, real, means, title: str) -> None:
    """Real points in grey, generated in blue, mode centres as red crosses; >3-D data shows 2 axes."""
    gen = np.asarray(generated, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if gen.shape[1] == 1:
        _histogram(fig, pos, gen[:, 0], real[:, 0], means, title)
        return
    three_d = gen.shape[1] == 3
    ax = fig.add_subplot(*pos, projection="3d" if three_d else None)
    cols = (0, 1, 2) if three_d else (0, 1)

    def pts(a):
        return [a[:, c] for c in cols]

    ax.scatter(*pts(real), s=2, c="0.7", alpha=0.5, label="real", linewidths=0)
    ax.scatter(*pts(gen), s=2, c="tab:blue", alpha=0.6, label="generated", linewidths=0)
    if means is not None:
        ax.scatter(*pts(np.asarray(means)), s=30, c="tab:red", marker="x", label="modes")
    if not three_d:
        lo = np.minimum(real.min(0), np.percentile(gen, 1, axis=0))[:2]
        hi = np.maximum(real.max(0), np.percentile(gen, 99, axis=0))[:2]
        pad = 0.1 * (hi - lo).max()
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)


def _histogram(fig, pos, gen, real, means, title: str) -> None:
    """1-D data: the two densities as overlaid histograms on shared bins, mode centres as red ticks."""
    ax = fig.add_subplot(*pos)
    lo = min(real.min(), np.percentile(gen, 1))
    hi = max(real.max(), np.percentile(gen, 99))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 61)
    ax.hist(real, bins=bins, density=True, color="0.7", alpha=0.7, label="real")
    ax.hist(np.clip(gen, bins[0], bins[-1]), bins=bins, density=True, color="tab:blue", alpha=0.5,
            label="generated")
    if means is not None:
        m = np.asarray(means, dtype=np.float64).reshape(-1)
        ax.scatter(m, np.zeros_like(m), s=30, c="tab:red", marker="x", label="modes")
    ax.set_title(title, fontsize=9)


CALIBRATION_STYLE = {"reference: true mixture": {"color": "tab:green", "linestyle": "--"},
                     "reference: uniform box": {"color": "tab:red", "linestyle": ":"}}


def calibration_lines(ax, refs: dict[str, dict], key: str) -> None:
    """The calibration rows' values of one metric as horizontal lines (dashed green true, dotted red uniform)."""
    for label, style in CALIBRATION_STYLE.items():
        v = refs.get(label, {}).get(key)
        if v is not None:
            ax.axhline(v, linewidth=1, label=label, **style)


def scatter_png(path: Path, generated, real, means=None, title: str = "") -> None:
    fig = plt.figure(figsize=(5, 5), dpi=80)
    _scatter(fig, (1, 1, 1), generated, real, means, title)
    fig.axes[0].legend(loc="upper right", fontsize=7, markerscale=3)
    _save(fig, path)


def panels_figure(panels: list[tuple[str, object, object, object]], cols: int = 4, size: float = 4):
    """One scatter per (title, generated, real, means), side by side, as a matplotlib figure."""
    cols = min(cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(size * cols, size * rows), dpi=80)
    for i, (title, gen, real, means) in enumerate(panels):
        _scatter(fig, (rows, cols, i + 1), gen, real, means, title)
    return fig


def panels_png(path: Path, panels: list[tuple[str, object, object, object]], cols: int = 4) -> None:
    _save(panels_figure(panels, cols), path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
