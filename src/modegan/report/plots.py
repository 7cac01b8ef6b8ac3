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


def _scatter(fig, pos, generated, real, means, title: str, limits=None, classes=None) -> None:
    """Real points in grey under the generated in blue, mode centres as red crosses; >3-D data shows 2 axes.
    `limits` ((lo, hi) per axis) fixes the scale; else it is fitted to this panel. `classes` ((labels, number of
    classes) of a conditional generator's samples) colours the generated points by their class."""
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
    if classes is None:
        ax.scatter(*pts(gen), s=2, c="tab:blue", alpha=0.6, label="generated", linewidths=0, zorder=2)
    else:
        labels, n_classes = np.asarray(classes[0]), max(int(classes[1]), 1)
        cmap = plt.get_cmap("tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "hsv")
        ax.scatter(*pts(gen), s=2, c=cmap(labels if n_classes <= 20 else labels / n_classes),
                   alpha=0.6, label=f"generated ({n_classes} classes)", linewidths=0, zorder=2)
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


def scatter_png(path: Path, generated, real, means=None, title: str = "", classes=None) -> None:
    fig = plt.figure(figsize=(5, 5), dpi=80)
    _scatter(fig, (1, 1, 1), generated, real, means, title, classes=classes)
    _legend(fig.axes[0])
    _save(fig, path)


def panels_figure(panels: list[tuple[str, object, object, object]], cols: int = 4, size: float = 4,
                  limits=None, legend: bool = False):
    """One scatter per (title, generated, real, means), side by side, as a matplotlib figure; `limits` as in
    `shared_limits` puts every panel on one scale, `legend` labels the first panel."""
    cols = min(cols, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(size * cols, size * rows), dpi=80)
    for i, (title, gen, real, means, *classes) in enumerate(panels):  # an optional 5th: (labels, n_classes)
        _scatter(fig, (rows, cols, i + 1), gen, real, means, title, limits, classes[0] if classes else None)
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


def interpolation_png(path: Path, grid, labels=None, run_dir=None) -> None:
    """An interpolation grid (rows, columns, *sample): images as a PNG grid, a row per path; toy points as one
    path per row over the run's real data (drawn from its dataset when `run_dir` is given), coloured by row,
    each path's start marked."""
    import torch

    grid = torch.as_tensor(grid)
    rows, cols = grid.shape[:2]
    if grid.dim() == 5:
        from modegan.report.grids import image_grid_png

        image_grid_png(path, grid.reshape(rows * cols, *grid.shape[2:]), nrow=cols)
        return
    real = means = None
    if run_dir is not None:
        from modegan.data import load_dataset
        from modegan.train.rundir import RunDir

        cfg = RunDir(run_dir).read_config()
        data = load_dataset(cfg.data.name, seed=cfg.data.seed, n_train=cfg.data.n_train)
        real = data.sample_real(2_000, torch.Generator().manual_seed(1)).numpy()
        means = data.mixture.means if data.mixture is not None else None
    pts = grid.numpy()
    fig = plt.figure(figsize=(5, 5), dpi=80)
    ax = fig.add_subplot(1, 1, 1)
    if real is not None and real.shape[1] >= 2:
        ax.scatter(real[:, 0], real[:, 1], s=4, c="0.4", alpha=0.3, linewidths=0, label="real")
    if means is not None and means.shape[1] >= 2:
        ax.scatter(means[:, 0], means[:, 1], s=30, c="tab:red", marker="x", label="modes")
    cmap = plt.get_cmap("tab10")
    if pts.shape[-1] >= 2:
        for r in range(rows):
            name = f"row {r}" + ("" if labels is None else f" (class {int(labels[r, 0])})" if
                                 bool((labels[r] == labels[r, 0]).all()) else "")
            ax.plot(pts[r, :, 0], pts[r, :, 1], "-o", ms=3, lw=1, color=cmap(r % 10), label=name if r < 10 else None)
            ax.scatter(pts[r, :1, 0], pts[r, :1, 1], s=40, color=cmap(r % 10), marker="s")
    ax.set_aspect("equal")
    ax.set_title(f"{rows} paths of {cols} samples")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    _save(fig, path)
