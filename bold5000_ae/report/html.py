"""One self-contained HTML page: tables inline, figures embedded as base64 PNG, no external
files, so it can be mailed or attached to an issue as it is."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bold5000_ae.report.collect import FAILED
from bold5000_ae.report.table import short_error

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:0.85em}td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f2f2}tr.failed td{background:#fde8e8}img{max-width:100%}code{font-size:0.9em}"""


def _image(path: Path | None, caption: str) -> str:
    if path is None or not path.is_file():
        return f"<p><em>{html.escape(caption)}: not available</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _summary_html(table: pd.DataFrame, metrics: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["rank", "configuration", "seeds",
                                                          *metrics])
    rows = []
    for _, row in table.iterrows():
        cells = [str(row["rank"]), f"<code>{html.escape(str(row['label']))}</code>",
                 str(row["n"])]
        cells += [f"{row[f'{m} mean']:.4f} ± {row[f'{m} std']:.4f}" for m in metrics]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _runs_html(runs: pd.DataFrame, metrics: Sequence[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in ["job", "overrides", "status",
                                             *map(html.escape, metrics), "error"])
    rows = []
    for _, row in runs.iterrows():
        values = [("" if pd.isna(v := row.get(m, float("nan"))) else f"{v:.4f}")
                  for m in metrics]
        cells = [html.escape(str(row["job"])),
                 "<code>" + html.escape(" ".join(row["overrides"])) + "</code>",
                 html.escape(str(row["status"])), *values,
                 html.escape(short_error(row["error"], 400))]
        css = " class='failed'" if row["status"] == FAILED else ""
        rows.append(f"<tr{css}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_html(path: Path, *, title: str, source: str, common: Sequence[str],
               table: pd.DataFrame, runs: pd.DataFrame, metrics: Sequence[str],
               figures: Sequence[tuple[Path | None, str]]) -> Path:
    n_failed = int((runs["status"] == FAILED).sum()) if len(runs) else 0
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>multirun: <code>{html.escape(source)}</code> · {len(runs)} jobs, "
             f"{n_failed} failed</p>"]
    if common:
        parts.append("<p>shared by every job: <code>" + html.escape(" ".join(common))
                     + "</code></p>")
    parts.append("<h2>Ranking (mean ± std over seeds)</h2>")
    parts.append(_summary_html(table, metrics) if len(table) else "<p>no finished runs</p>")
    parts.append("<h2>Figures</h2>")
    parts += [_image(p, caption) for p, caption in figures]
    parts.append("<h2>Every job</h2>")
    parts.append(_runs_html(runs, metrics))
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
