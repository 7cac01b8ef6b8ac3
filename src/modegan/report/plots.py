"""Scatter plots of generated samples over the real data (2-D, or 3-D for cube27-like data; histograms for 1-D)."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Report figures: text legible at dpi 80 in a browser (matplotlib's defaults are sized for print)
REPORT_RC = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
             "ytick.labelsize": 10, "legend.fontsize": 9, "figure.dpi": 80}


def legible(make_figure):
    """Build the figure under REPORT_RC (font sizes are fixed when the text is made, so wrap the builder)."""

    @functools.wraps(make_figure)
    def wrapped(*args, **kwargs):
        with plt.rc_context(REPORT_RC):
            return make_figure(*args, **kwargs)

    return wrapped


def shared_limits(real, generated: list) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) per axis covering the real data and the central 98% of every generated sample: one scale for
    all panels of a data set, so the methods' spreads compare by eye."""
    real = np.asarray(real, dtype=np.float64)
    lo, hi = real.min(0), real.max(0)
    for g in generated:
        g = np.asarray(g, dtype=np.float64)
        lo, hi = np.minimum(lo, np.percentile(g, 1, axis=0)), np.maximum(hi, np.percentile(g, 99, axis=0))
    pad = 0.1 * float((hi - lo).max() or 1.0)
    return lo - pad, hi + pad


def _scatter(fig, pos, generated, real, means, title: str, limits=None) -> None:
    """Real points in grey under the generated in blue, mode centres as red crosses; >3-D data shows 2 axes.
    `limits` ((lo, hi) per axis) fixes the scale; else it is fitted to this panel."""
    gen = np.asarray(generated, dtype=np.float64)
    real = np.asarray(real, dtype=np.float64)
    if gen.shape[1] == 1:
        _histogram(fig, pos, gen[:, 0], real[:, 0], means, title, limits)
        return
    three_d = gen.shape[1] == 3
    ax = fig.add_subplot(*pos, projection="3d" if three_d else None)
    cols = (0, 1, 2) if three_d else (0, 1)

    def pts(a):
        return [a[:, c] for c in cols]

    ax.scatter(*pts(real), s=4, c="0.4", alpha=0.35, label="real", linewidths=0, zorder=1)
    ax.scatter(*pts(gen), s=2, c="tab:blue", alpha=0.6, label="generated", linewidths=0, zorder=2)
    if means is not None:
        ax.scatter(*pts(np.asarray(means)), s=30, c="tab:red", marker="x", label="modes", zorder=3)
    lo, hi = limits if limits is not None else shared_limits(real, [gen])
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if three_d:
        ax.set_zlim(lo[2], hi[2])
    else:
        ax.set_aspect("equal")
    ax.set_title(title)


def _histogram(fig, pos, gen, real, means, title: str, limits=None) -> None:
    """1-D data: the two densities as overlaid histograms on shared bins, mode centres as red ticks."""
    ax = fig.add_subplot(*pos)
    lo, hi = (float(limits[0][0]), float(limits[1][0])) if limits is not None else \
        (min(real.min(), np.percentile(gen, 1)), max(real.max(), np.percentile(gen, 99)))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 61)
    ax.hist(real, bins=bins, density=True, color="0.7", alpha=0.7, label="real")
    ax.hist(np.clip(gen, bins[0], bins[-1]), bins=bins, density=True, color="tab:blue", alpha=0.5,
            label="generated")
    if means is not None:
        m = np.asarray(means, dtype=np.float64).reshape(-1)
        ax.scatter(m, np.zeros_like(m), s=30, c="tab:red", marker="x", label="modes")
    ax.set_title(title)


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
    _legend(fig.axes[0])
    _save(fig, path)


def panels_figure(panels: list[tuple[str, object, object, object]], cols: int = 4, size: float = 4,
                  limits=None, legend: bool = False):
    """One scatter per (title, generated, real, means), side by side, as a matplotlib figure; `limits` as in
    `shared_limits` puts every panel on one scale, `legend` labels the first panel."""
    cols = min(cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(size * cols, size * rows), dpi=80)
    for i, (title, gen, real, means) in enumerate(panels):
        _scatter(fig, (rows, cols, i + 1), gen, real, means, title, limits)
    if legend and fig.axes:
        _legend(fig.axes[0])
    return fig


def _legend(ax) -> None:
    """real / generated / modes, with markers of one readable size (the points' own are 2-4 px)."""
    key = ax.legend(loc="upper right", framealpha=0.8)
    for handle in key.legend_handles:
        if hasattr(handle, "set_sizes"):  # scatter markers; a histogram's handles are patches
            handle.set_sizes([30])
        handle.set_alpha(1)


def panels_png(path: Path, panels: list[tuple[str, object, object, object]], cols: int = 4) -> None:
    _save(panels_figure(panels, cols), path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
