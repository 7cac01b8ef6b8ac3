"""One lesson page: a self-contained HTML file (every figure embedded as a data: URI, nothing fetched) and the
JSON of its numbers, written atomically beside each other."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

from modegan.train.files import atomic_write

# the report's look (report/html.py, which cannot be imported here without importing the whole bench first)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1400px; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
img { max-width: 100%; border: 1px solid #eee; }
.note { color: #555; font-size: 0.9em; }
"""

THEORY = "docs/theory.md"  # in the repository; the pages name it rather than link a file that is not beside them


def fig_uri(fig) -> str:
    """A matplotlib figure as an embedded PNG data: URI (closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def json_safe(value):
    """Numbers for JSON: ±inf become the strings "inf"/"-inf" and NaN null, so the file is strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return json_safe(value.item())
    return value


def table(head: list[str], rows: list[list]) -> str:
    """An HTML table; floats shown with 4 significant digits, ∞ as ∞."""
    def cell(v):
        if isinstance(v, float):
            return "∞" if math.isinf(v) else f"{v:.4g}"
        return html.escape(str(v))
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def write_lesson(out: Path, name: str, module, numbers: dict) -> dict:
    """Render `module.page(numbers)` -> (title, [html blocks or (caption, uri)]) into OUT/NAME.html."""
    title, blocks = module.page(numbers)
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>',
             f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for block in blocks:
        if isinstance(block, tuple):
            caption, uri = block
            parts.append(f"<figure>{_img(uri, caption)}<figcaption class=\"note\">{html.escape(caption)}"
                         "</figcaption></figure>")
        else:
            parts.append(block)
    note = " This page was made in quick mode (fewer samples and steps than the default)." if numbers["quick"] else ""
    parts.append(f'<p class="note">Made by <code>modegan lesson {html.escape(name)}</code> in '
                 f"{numbers['elapsed_s']:.1f} s; every number is in {html.escape(name)}.json beside this page. "
                 f'The mathematics: <a href="../{THEORY}">{THEORY}</a> in the modegan repository (the link works for '
                 f"pages written to lessons/ at the repository's root, the default).{note}</p></body></html>")
    out.mkdir(parents=True, exist_ok=True)
    page, data = out / f"{name}.html", out / f"{name}.json"
    atomic_write(page, "\n".join(parts).encode())
    atomic_write(data, (json.dumps(json_safe(numbers), indent=1) + "\n").encode())
    return numbers | {"html": str(page), "json": str(data)}
