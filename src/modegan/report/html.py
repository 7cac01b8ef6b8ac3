"""A benchmark report as one self-contained HTML page: every image is embedded, nothing is fetched.

Sections: the results table beside the published numbers, final samples per method and dataset,
the evolution of samples over training for one seed (the DIWGAN paper's Figure 3 analogue), and
coverage-vs-step curves (mean ± std over seeds).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from modegan.bench.calibration import NOISE_FLAG  # noqa: E402
from modegan.bench.published import SETTINGS_NOTE, published_for  # noqa: E402
from modegan.bench.results import (  # noqa: E402
    CALIBRATION_NOTE,
    KNOWN,
    Row,
    cells,
    failures,
    flags,
    metric_names,
    protocol_lines,
    reference_value,
    references,
)
from modegan.errors import ModeganError  # noqa: E402
from modegan.report.plots import calibration_lines, panels_figure  # noqa: E402
from modegan.train.rundir import RunDir  # noqa: E402

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
tr.published td { color: #666; font-style: italic; background: #f6f6f6; }
tr.reference td { background: #eef4fb; }
td.noise { color: #a33; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9em; }
"""


def _png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def fig_uri(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return _png_uri(buf.getvalue())


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _first_finished(rows: list[Row]) -> dict[tuple[str, str], Row]:
    """The lowest-seed finished run of each (dataset, method): the one whose samples are shown."""
    out: dict[tuple[str, str], Row] = {}
    for r in sorted(rows, key=lambda r: r.seed):
        if r.status == "finished":
            out.setdefault((r.dataset, r.method), r)
    return out


def final_samples(rows: list[Row], dataset: str, n: int = 2500) -> str | None:
    """Samples of the shown run of each method: scatter panels over real data, or image grids."""
    from modegan.train.load import load

    shown = [r for (d, _), r in _first_finished(rows).items() if d == dataset]
    if not shown:
        return None
    if shown[0].image:
        return _image_panels([(f"{r.method} (seed {r.seed})",
                               load(r.path).sample(64, torch.Generator().manual_seed(0))) for r in shown])
    from modegan.data import load_dataset

    data = load_dataset(RunDir(shown[0].path).read_config().data.name, n_train=1000)
    real = data.sample_real(n, torch.Generator().manual_seed(1))
    means = data.mixture.means if data.mixture is not None else None
    panels = [(f"{r.method} (seed {r.seed})", load(r.path).sample(n, torch.Generator().manual_seed(0)), real, means)
              for r in shown]
    return fig_uri(panels_figure(panels, cols=min(6, len(panels)), size=3))


def _image_panels(panels: list[tuple[str, torch.Tensor]], cols: int = 4) -> str:
    """8x8 grids of generated images, one titled panel per method."""
    from modegan.report.grids import grid_array

    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, min(cols, len(panels)), figsize=(3 * min(cols, len(panels)), 3.2 * rows),
                             dpi=80, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, images) in zip(axes.flat, panels, strict=False):
        ax.imshow(grid_array(images), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    return fig_uri(fig)


def evenly_spaced(items: list, k: int) -> list:
    """At most `k` of `items`, evenly spaced, always the first and the last."""
    n = min(k, len(items))
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def evolution(rows: list[Row], dataset: str, columns: int = 5, thumb: int = 170) -> str | None:
    """Rows of methods, columns of evaluation steps: the run's own sample plots, shrunk and tiled."""
    from PIL import Image, ImageDraw

    shown = [r for (d, _), r in _first_finished(rows).items() if d == dataset]
    strips = []
    for r in shown:
        pngs = sorted(p for p in (r.path / "samples").glob("step_*.png") if p.stem[5:].isdigit())
        if not pngs:
            continue
        pick = evenly_spaced(pngs, columns)
        strips.append((r, pick))
    if not strips:
        return None
    label_w = 150
    canvas = Image.new("RGB", (label_w + columns * thumb, len(strips) * thumb), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (r, pick) in enumerate(strips):
        draw.text((6, i * thumb + thumb // 2 - 12), f"{r.method}\nseed {r.seed}", fill="black")
        for j, p in enumerate(pick):
            try:
                with Image.open(p) as im:
                    canvas.paste(im.convert("RGB").resize((thumb, thumb)), (label_w + j * thumb, i * thumb))
            except (OSError, ValueError) as e:  # truncated or not a PNG (PIL's UnidentifiedImageError is an OSError)
                raise ModeganError(f"cannot read sample plot {p}: {type(e).__name__} (truncated or corrupt?)") from None
            draw.text((label_w + j * thumb + 4, i * thumb + 2), f"step {int(p.stem.split('_')[1])}", fill="black")
    buf = io.BytesIO()
    canvas.save(buf, format="PNG", optimize=True)
    return _png_uri(buf.getvalue())


def coverage_curves(rows: list[Row], dataset: str) -> str | None:
    """Metric vs generator step (modes and jsd_grid, or modes and kl on images), mean ± std over seeds, with
    the calibration rows as lines."""
    seen = {k for r in rows if r.dataset == dataset for _, m in r.curve for k in m}
    metrics = tuple(k for k in ("modes", "jsd_grid", "kl", "digit_kl", "fd") if k in seen)[:2]
    by_method: dict[str, list[Row]] = {}
    for r in rows:
        if r.dataset == dataset and r.curve:
            by_method.setdefault(r.method, []).append(r)
    if not by_method or not metrics:
        return None
    refs = references([r for r in rows if r.dataset == dataset])[0].get(dataset, {})
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4), dpi=80, squeeze=False)
    for ax, key in zip(axes[0], metrics, strict=True):
        for method, rs in by_method.items():
            steps = sorted({s for r in rs for s, _ in r.curve})
            table = np.full((len(steps), len(rs)), np.nan)
            for i, s in enumerate(steps):
                for j, r in enumerate(rs):
                    v = next((m.get(key) for s2, m in r.curve if s2 == s), None)
                    table[i, j] = np.nan if v is None else v
            ok = ~np.all(np.isnan(table), axis=1)
            if not ok.any():
                continue
            x = np.asarray(steps)[ok]
            mean, std = np.nanmean(table[ok], axis=1), np.nanstd(table[ok], axis=1)
            ax.plot(x, mean, label=method, marker="o", markersize=3)
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
        calibration_lines(ax, refs, key)
        ax.set_xlabel("generator step")
        ax.set_ylabel(key)
        ax.set_title(f"{dataset}: {key} (mean ± std over seeds)", fontsize=10)
    axes[0][0].legend(fontsize=7, ncol=2)
    return fig_uri(fig)


def critic_gradient_curves(rows: list[Row], dataset: str) -> str | None:
    """‖∇ₓD‖ over training at interpolates between real and generated points (max: the empirical Lipschitz
    constant; mean), and at real points, mean over seeds per method, log scale: how each run's critic is
    constrained (a gradient penalty holds the interpolates near 1; an unconstrained D's grow)."""
    by_method: dict[str, list[Row]] = {}
    for r in rows:
        if r.dataset == dataset and r.critic_grads:
            by_method.setdefault(r.method, []).append(r)
    if not by_method:
        return None
    panels = (("interp", "max", "max ‖∇ₓD‖ at interpolates"), ("interp", "mean", "mean ‖∇ₓD‖ at interpolates"),
              ("real", "mean", "mean ‖∇ₓD‖ at real points"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), dpi=80, squeeze=False)
    for ax, (where, stat, title) in zip(axes[0], panels, strict=True):
        for method, rs in by_method.items():
            per_step: dict[int, list[float]] = {}
            for r in rs:
                for step, g in r.critic_grads:
                    v = g.get(where, {}).get(stat)
                    if isinstance(v, (int, float)) and v > 0:
                        per_step.setdefault(step, []).append(v)
            if per_step:
                steps = sorted(per_step)
                ax.plot(steps, [np.mean(per_step[s]) for s in steps], label=method, marker="o", markersize=3)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_ylabel("‖∇ₓD‖")
        ax.set_title(f"{dataset}: {title}", fontsize=10)
    axes[0][0].legend(fontsize=7, ncol=2)
    return fig_uri(fig)


def _results_table(rows: list[Row], dataset: str) -> str:
    metrics = metric_names(rows)
    pub = published_for(dataset)
    metrics = (*metrics, *(k for k in KNOWN if k not in metrics and any(k in p.values for p in pub)))
    table = cells(rows, metrics).get(dataset, {})
    refs, notes = references([r for r in rows if r.dataset == dataset])
    fl = flags({dataset: table}, refs)[dataset]
    head = "".join(f"<th>{k}</th>" for k in metrics)
    out = [f"<table><tr><th>method</th><th>runs</th>{head}<th>s/run</th></tr>"]
    for label, values in refs.get(dataset, {}).items():
        tds = "".join(f"<td>{reference_value(values.get(k))}</td>" for k in metrics)
        out.append(f'<tr class="reference"><td>{html.escape(label)}</td><td></td>{tds}<td></td></tr>')
    for m, cs in table.items():
        t = cs["elapsed_s"]
        n_ok = sum(1 for r in rows if r.dataset == dataset and r.method == m and r.status == "finished")
        tds = "".join(_cell_td(cs[k].format(), k in fl[m]) for k in metrics)
        out.append(f"<tr><td>{html.escape(m)}</td><td>{n_ok}/{cs['elapsed_s'].n_runs}</td>{tds}"
                   f"<td>{'-' if not t.values else f'{t.mean:.0f}'}</td></tr>")
    for p in pub:
        tds = "".join(f"<td>{html.escape(p.values.get(k, ''))}</td>" for k in metrics)
        out.append(f'<tr class="published"><td>{html.escape(p.method)}: published in {html.escape(p.source)}'
                   f"</td><td></td>{tds}<td></td></tr>")
    out.append("</table>")
    if dataset in notes:
        out.append(f'<p class="note">{html.escape(notes[dataset])}.</p>')
    return "\n".join(out)


def _cell_td(text: str, noise: bool) -> str:
    """A method's cell; one no better than the uniform box carries the noise flag."""
    if not noise:
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="noise">{html.escape(text)} {NOISE_FLAG}</td>'


def build_report(rows: list[Row], path: Path, title: str, setting: str = "") -> Path:
    """Write the self-contained report.html for these runs and return its path."""
    datasets = list(dict.fromkeys(r.dataset for r in rows))
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if setting:
        parts.append(f"<p>{html.escape(setting)}</p>")
    parts.append('<p class="note">Cells are mean (std) over seeds, per-seed values in results.csv; [n/N] when only '
                 "n of N runs gave a value. Grey italic rows were published elsewhere under different networks, "
                 "budgets and sample counts: they are context, not comparable cell by cell.</p>")
    parts.append(f'<p class="note">{html.escape(CALIBRATION_NOTE)}</p>')
    for d in datasets:
        parts.append(f"<h2>{html.escape(d)}</h2>")
        parts.append(_results_table(rows, d))
        for heading, uri in (("Final samples (lowest finished seed of each method)", final_samples(rows, d)),
                             ("Samples over training, one seed (columns: evaluations from first to last)",
                              evolution(rows, d)),
                             ("Coverage over training", coverage_curves(rows, d)),
                             ("The critic's input gradients over training (docs/theory.md)",
                              critic_gradient_curves(rows, d))):
            if uri is not None:
                parts.append(f"<h3>{heading}</h3>{_img(uri, f'{d}: {heading}')}")
    bad = failures(rows)
    if bad:
        parts.append("<h2>Runs that did not finish</h2><ul>")
        parts += [f"<li>{html.escape(f'{r.dataset} / {r.method} / seed {r.seed}: {r.status}')}"
                  f"{html.escape(': ' + r.error) if r.error else ''}</li>" for r in bad]
        parts.append("</ul>")
    parts.append("<h2>Protocol</h2><ul>" + "".join(f"<li>{html.escape(p)}</li>" for p in protocol_lines(rows))
                 + "</ul>")
    sources = {p.source for r in rows for p in published_for(r.dataset)}
    parts.append("<h2>Published sources</h2><ul>" + "".join(
        f"<li>{html.escape(s)}: {html.escape(n)}</li>" for s, n in SETTINGS_NOTE.items() if s in sources) + "</ul>")
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(path)
    return path
