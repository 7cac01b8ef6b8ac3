"""A benchmark report as one self-contained HTML page: every image is embedded, nothing is fetched.

Per data set: the results table beside the published numbers; final samples per method over the real data,
every panel on one scale; the evolution of samples over training for one seed (the DIWGAN paper's Figure 3
analogue); modes, HQS, JSD and W1 against the step (mean ± std over seeds); each seed's final metrics as points;
the losses and parameter-gradient norms, and the critic's input gradients, over training; seconds per run.
Every metric has one panel holding every method (one y scale), with the calibration rows as lines. Figures are
dpi-80 PNGs in data URIs, their text sized by `plots.REPORT_RC`.
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
from modegan.nets.conditional import ConditionalGenerator  # noqa: E402
from modegan.report.plots import calibration_lines, legible, panels_figure, shared_limits  # noqa: E402
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
        return _image_panels([(f"{r.method} (seed {r.seed})", _image_samples(load(r.path))) for r in shown])
    from modegan.data import load_dataset

    data = load_dataset(RunDir(shown[0].path).read_config().data.name, n_train=1000)
    real = data.sample_real(n, torch.Generator().manual_seed(1))
    means = data.mixture.means if data.mixture is not None else None
    panels = [(f"{r.method} (seed {r.seed})", *_toy_samples(load(r.path), n), real, means) for r in shown]
    panels = [(t, g, real, m, c) if c is not None else (t, g, real, m) for t, g, c, real, m in panels]
    limits = shared_limits(real, [p[1] for p in panels])
    return fig_uri(legible(panels_figure)(panels, cols=min(5, len(panels)), size=3.4, limits=limits, legend=True))


def _toy_samples(G, n: int):
    """n samples and, for a conditional generator, (their labels, the number of classes) to colour them by."""
    rng = torch.Generator().manual_seed(0)
    if isinstance(G, ConditionalGenerator):
        labels = G.sample_labels(n, rng)
        return G.sample(n, rng, labels=labels), (labels, G.n_classes)
    return G.sample(n, rng), None


def _image_samples(G, per_class: int = 8):
    """64 samples, or for a conditional generator a class x samples grid: 8 of each of the first 10 classes."""
    rng = torch.Generator().manual_seed(0)
    if isinstance(G, ConditionalGenerator):
        labels = torch.arange(min(G.n_classes, 10)).repeat_interleave(per_class)
        return G.sample(len(labels), rng, labels=labels)
    return G.sample(64, rng)


@legible
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
        ax.set_title(title)
    return fig_uri(fig)


def evenly_spaced(items: list, k: int) -> list:
    """At most `k` of `items`, evenly spaced, always the first and the last."""
    n = min(k, len(items))
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]


def _label_font(size: int = 15):
    """PIL's own font at a legible size (Pillow >= 10.1; older ones only have the small bitmap font)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


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
    draw.font = _label_font()
    for i, (r, pick) in enumerate(strips):
        draw.text((6, i * thumb + thumb // 2 - 16), f"{r.method}\nseed {r.seed}", fill="black")
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


CURVE_METRICS = ("modes", "hqs", "jsd_grid", "w1", "kl", "digit_kl", "fd")  # the first four a data set reports


def _by_method(rows: list[Row], dataset: str, has) -> dict[str, list[Row]]:
    """dataset's rows grouped by method, those for which `has(row)` is true."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        if r.dataset == dataset and has(r):
            out.setdefault(r.method, []).append(r)
    return out


def method_colours(rows: list[Row]) -> dict[str, str]:
    """One colour per method, the same in every figure of the report (order of first appearance)."""
    methods = dict.fromkeys(r.method for r in rows)
    return {m: f"C{i % 10}" for i, m in enumerate(methods)}


def _seed_band(ax, rs: list[Row], series, key: str, label: str, colour: str, positive: bool = False) -> None:
    """One method's mean ± std over seeds of `key` against the step; `series(row)` is its [(step, dict)];
    `positive` (a log axis) leaves out values <= 0."""
    per_step: dict[int, list[float]] = {}
    for r in rs:
        for step, values in series(r):
            v = values.get(key)
            if _finite(v) and (v > 0 or not positive):
                per_step.setdefault(step, []).append(v)
    if not per_step:
        return
    x = sorted(per_step)
    mean = np.array([np.mean(per_step[s]) for s in x])
    std = np.array([np.std(per_step[s]) for s in x])
    ax.plot(x, mean, label=label, marker="o", markersize=3, color=colour)
    ax.fill_between(x, mean - std, mean + std, alpha=0.15, color=colour)


def metric_ylims(rows: list[Row], dataset: str, refs: dict[str, dict]) -> dict[str, tuple[float, float]]:
    """One y range per metric of a data set, over every evaluation, final value and calibration row: the
    curves and the per-seed finals of that metric are drawn on the same scale."""
    values: dict[str, list[float]] = {}
    for r in rows:
        if r.dataset == dataset:
            for m in [r.metrics] + [c for _, c in r.curve]:
                for k, v in m.items():
                    if _finite(v):
                        values.setdefault(k, []).append(float(v))
    for ref in refs.values():
        for k, v in ref.items():
            if _finite(v) and k in values:
                values[k].append(float(v))
    out = {}
    for k, vs in values.items():
        lo, hi = min(vs), max(vs)
        pad = 0.06 * (hi - lo) or 0.5
        out[k] = (lo - pad, hi + pad)
    return out


def _grid(n: int, w: float = 6, h: float = 3.8):
    cols = min(2, n)
    fig, axes = plt.subplots(-(-n // cols), cols, figsize=(w * cols, h * -(-n // cols)), dpi=80, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


@legible
def coverage_curves(rows: list[Row], dataset: str) -> str | None:
    """Modes, HQS, JSD and W1 (modes, kl, fd on images) against the generator step, mean ± std over seeds, with
    the calibration rows as lines; one panel a metric, every method on it, so they share its y scale."""
    seen = {k for r in rows if r.dataset == dataset for _, m in r.curve for k in m}
    metrics = tuple(k for k in CURVE_METRICS if k in seen)[:4]
    by_method = _by_method(rows, dataset, lambda r: r.curve)
    if not by_method or not metrics:
        return None
    refs = references([r for r in rows if r.dataset == dataset])[0].get(dataset, {})
    ylims, colours = metric_ylims(rows, dataset, refs), method_colours(rows)
    fig, axes = _grid(len(metrics))
    for ax, key in zip(axes, metrics, strict=True):
        for method, rs in by_method.items():
            _seed_band(ax, rs, lambda r: r.curve, key, method, colours[method])
        calibration_lines(ax, refs, key)
        ax.set(xlabel="generator step", ylabel=key, title=f"{dataset}: {key} (mean ± std over seeds)",
               ylim=ylims.get(key))
    axes[0].legend(ncol=2)
    return fig_uri(fig)


TRAINING_PANELS = (("d_loss", "discriminator / critic loss", False), ("g_loss", "generator loss", False),
                   ("grad_norm_d", "‖∇θ‖ of D's parameters at the evaluation", True),
                   ("grad_norm_g", "‖∇θ‖ of G's parameters at the evaluation", True))


@legible
def training_curves(rows: list[Row], dataset: str) -> str | None:
    """The losses (means since the previous evaluation) and the parameter-gradient norms (of the last step
    before each evaluation) over training, mean ± std over seeds: a diverging or stalled run shows here."""
    by_method = _by_method(rows, dataset, lambda r: any(t for _, t in r.training))
    if not by_method:
        return None
    colours = method_colours(rows)
    fig, axes = _grid(len(TRAINING_PANELS))
    for ax, (key, title, log) in zip(axes, TRAINING_PANELS, strict=True):
        for method, rs in by_method.items():
            _seed_band(ax, rs, lambda r: r.training, key, method, colours[method], positive=log)
        if log:
            ax.set_yscale("log")
        ax.set(xlabel="generator step", ylabel=key, title=f"{dataset}: {title}")
    axes[0].legend(ncol=2)
    return fig_uri(fig)


def _strip(ax, values: dict[str, list[float]], colours: dict[str, str]) -> None:
    """Each method's per-seed values as points (jittered sideways), its mean as a black bar."""
    rng = np.random.default_rng(0)
    for i, (method, vs) in enumerate(values.items()):
        if vs:
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(vs)), vs, s=18, alpha=0.7, zorder=2, color=colours[method])
            ax.hlines(np.mean(vs), i - 0.3, i + 0.3, color="black", linewidth=2, zorder=3)
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right")


@legible
def per_seed_finals(rows: list[Row], dataset: str) -> str | None:
    """Each seed's final value of modes, HQS, JSD, W1 per method (bar: the mean), the calibration rows as lines:
    the spread behind the table's mean (std)."""
    mine = [r for r in rows if r.dataset == dataset and r.status == "finished"]
    metrics = tuple(k for k in CURVE_METRICS if any(isinstance(r.metrics.get(k), (int, float)) for r in mine))[:4]
    if not metrics:
        return None
    refs = references([r for r in rows if r.dataset == dataset])[0].get(dataset, {})
    methods = list(dict.fromkeys(r.method for r in mine))
    ylims = metric_ylims(rows, dataset, refs)
    fig, axes = _grid(len(metrics), h=4.2)
    for ax, key in zip(axes, metrics, strict=True):
        _strip(ax, {m: [r.metrics[key] for r in mine if r.method == m and _finite(r.metrics.get(key))]
                    for m in methods}, method_colours(rows))
        calibration_lines(ax, refs, key)
        ax.set(ylabel=key, title=f"{dataset}: final {key}, one point a seed", ylim=ylims.get(key))
    if axes[0].get_legend_handles_labels()[0]:  # image data have no calibration lines to label
        axes[0].legend(loc="best")
    return fig_uri(fig)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and bool(np.isfinite(v))


@legible
def run_times(rows: list[Row], dataset: str) -> str | None:
    """Wall seconds per finished run and method, one point a seed (seeds trained as one batch each record
    the whole batch's seconds)."""
    times = {}
    for r in rows:
        if r.dataset == dataset and r.status == "finished" and _finite(r.elapsed_s):
            times.setdefault(r.method, []).append(r.elapsed_s)
    if not times:
        return None
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(times) + 2), 3.8), dpi=80)
    _strip(ax, times, method_colours(rows))
    ax.set_ylim(bottom=0)
    ax.set(ylabel="wall seconds", title=f"{dataset}: time per run, one point a seed")
    return fig_uri(fig)


@legible
def critic_gradient_curves(rows: list[Row], dataset: str) -> str | None:
    """‖∇ₓD‖ over training at interpolates between real and generated points (max: the empirical Lipschitz
    constant; mean), and at real points, mean over seeds per method, log scale: how each run's critic is
    constrained (a gradient penalty holds the interpolates near 1; an unconstrained D's grow)."""
    by_method, colours = _by_method(rows, dataset, lambda r: r.critic_grads), method_colours(rows)
    if not by_method:
        return None
    panels = (("interp", "max", "max ‖∇ₓD‖ at interpolates"), ("interp", "mean", "mean ‖∇ₓD‖ at interpolates"),
              ("real", "mean", "mean ‖∇ₓD‖ at real points"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), dpi=80, squeeze=False)
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
                ax.plot(steps, [np.mean(per_step[s]) for s in steps], label=method, marker="o", markersize=3,
                        color=colours[method])
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_ylabel("‖∇ₓD‖")
        ax.set_title(f"{dataset}: {title}")
    axes[0][0].legend(ncol=2)
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
                             ("Metrics over training (mean ± std over seeds)", coverage_curves(rows, d)),
                             ("Final metrics, one point a seed", per_seed_finals(rows, d)),
                             ("Losses and parameter-gradient norms over training", training_curves(rows, d)),
                             ("The critic's input gradients over training (docs/theory.md)",
                              critic_gradient_curves(rows, d)),
                             ("Time per run", run_times(rows, d))):
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
