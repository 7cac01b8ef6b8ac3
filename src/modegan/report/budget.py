"""budget.html, the budget study's page: per dataset, modes / HQS / JSD / W1 against generator steps and
against wall seconds (mean over seeds), each with the calibration lines, then the plateau table.
Self-contained like report.html: the figures are embedded, nothing is fetched."""

from __future__ import annotations

import html

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from modegan.bench.budget import CURVE_METRICS, Evaluation, Plateau, mean_curve, num, step_text  # noqa: E402
from modegan.report.html import STYLE, fig_uri  # noqa: E402
from modegan.report.plots import calibration_lines, legible  # noqa: E402

Runs = dict[tuple[str, str], dict[int, list[Evaluation]]]


@legible
def budget_figure(runs: Runs, dataset: str, refs: dict[str, dict]) -> str | None:
    """Two rows of panels (against steps, against wall seconds), one column per metric the runs report; a
    metric's two panels share their y scale."""
    mine = {m: r for (d, m), r in runs.items() if d == dataset}
    metrics = [k for k in CURVE_METRICS if any(mean_curve(r, k) for r in mine.values())]
    if not metrics:
        return None
    fig, axes = plt.subplots(2, len(metrics), figsize=(4.8 * len(metrics), 8), dpi=80, squeeze=False,
                             sharey="col")
    for j, key in enumerate(metrics):
        for method, r in mine.items():
            curve = mean_curve(r, key)
            axes[0][j].plot([c[0] for c in curve], [c[2] for c in curve], marker="o", markersize=2, label=method)
            axes[1][j].plot([c[1] for c in curve], [c[2] for c in curve], marker="o", markersize=2, label=method)
        for row, xlabel in ((0, "generator step"), (1, "wall seconds")):
            calibration_lines(axes[row][j], refs.get(dataset, {}), key)
            axes[row][j].set_xlabel(xlabel)
            axes[row][j].set_ylabel(key)
        axes[0][j].set_title(f"{dataset}: {key} (mean over seeds)")
    axes[0][0].legend(ncol=2)
    return fig_uri(fig)


def plateau_table(items: list[Plateau], dataset: str) -> str:
    head = ("method", "seeds", "last evaluation", "HQS plateau (mean)", "HQS plateau (latest seed)", "final HQS",
            "max modes", "final modes", "seeds losing modes")
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for p in (p for p in items if p.dataset == dataset):
        cells = (p.method, p.seeds, p.last_step, step_text(p.hqs_plateau, p.last_step),
                 step_text(p.hqs_plateau_latest, p.last_step), num(p.final_hqs), num(p.max_modes),
                 num(p.final_modes), f"{p.seeds_losing_modes}/{p.seeds}")
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    return "\n".join(out + ["</table>"])


def budget_page(runs: Runs, refs: dict[str, dict], items: list[Plateau], setting: str) -> str:
    """The whole page as one HTML string."""
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Budget study</title>',
             f"<style>{STYLE}</style></head><body><h1>Budget study</h1><p>{html.escape(setting)}</p>",
             '<p class="note">Lines: mean over seeds at each evaluation; dashed green: the true mixture, dotted red: '
             "uniform noise over the data's box, both scored with the runs' evaluation protocol. With seeds trained "
             "as a batch, wall seconds are the whole batch's. HQS plateau: the first evaluation after which HQS stays "
             "within 5 points of its final value.</p>"]
    for d in dict.fromkeys(d for d, _ in runs):
        parts.append(f"<h2>{html.escape(d)}</h2>")
        uri = budget_figure(runs, d, refs)
        if uri is not None:
            parts.append(f'<img src="{uri}" alt="{html.escape(d)}: metrics against steps and seconds">')
        parts.append(plateau_table(items, d))
    return "\n".join(parts + ["</body></html>"])
