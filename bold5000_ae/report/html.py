"""One self-contained HTML page: Plotly's JS embedded once (no network, no CDN), interactive
figures, sortable tables, each run linked to its folder, config, figures and TensorBoard
logdir, failed jobs with their error, and the static PNGs underneath. It can be mailed or
attached to an issue as it is; only the run links need the sweep folder beside it."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from bold5000_ae.report.collect import FAILED, STALE, job_links
from bold5000_ae.report.optuna_views import StudyViews
from bold5000_ae.report.table import ci_text, mean_std, runs_cell, short_error
from bold5000_ae.utils.atomic_io import atomic_path

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1500px}
table{border-collapse:collapse;font-size:0.85em;margin-bottom:1em}td,th{border:1px solid #ccc;
padding:3px 8px}th{background:#f2f2f2}table.sortable thead th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr.failed td{background:#fde8e8}tr.reference td{font-style:italic;background:#f7f7f7}
img{max-width:100%}code{font-size:0.9em}.swatch{display:inline-block;width:0.9em;height:0.9em;
margin-right:0.4em;vertical-align:middle}"""

# Click a header to sort by it (again to reverse); numbers compare as numbers, blanks go last.
# Reference rows (baselines, ceilings) sort with the configurations, by value.
SORT_JS = """function sortTable(table, col, th) {
  const body = table.tBodies[0], rows = Array.from(body.rows);
  const ascending = th.getAttribute('aria-sort') !== 'ascending';
  table.querySelectorAll('thead th').forEach(h => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
  const key = r => { const c = r.cells[col]; const v = c.dataset.value ?? c.textContent.trim();
                     const n = parseFloat(v); return v === '' ? null : (isNaN(n) ? v : n); };
  rows.sort((a, b) => { const x = key(a), y = key(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const numbers = typeof x === 'number' && typeof y === 'number';
    const o = numbers ? x - y : String(x).localeCompare(String(y));
    return ascending ? o : -o; });
  rows.forEach(r => body.appendChild(r));
}
document.querySelectorAll('table.sortable').forEach(t =>
  t.querySelectorAll('thead th').forEach((th, i) =>
    th.addEventListener('click', () => sortTable(t, i, th))));"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _td(text: str, value: object = None, raw: bool = False) -> str:
    data = "" if value is None or (isinstance(value, float) and value != value) else (
        f" data-value='{_e(value)}'")
    return f"<td{data}>{text if raw else _e(text)}</td>"


def _plot(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def _png(path: Path | None, caption: str) -> str:
    if path is None or not path.is_file():
        return f"<p><em>{_e(caption)}: not available</em></p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f"<figure><img alt='{_e(caption)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def summary_table(ranked: pd.DataFrame, metrics: Sequence[str],
                  colours: dict[str, str]) -> str:
    """``ranked``: ``table.ranking``'s rows, configurations and references (baselines,
    ceilings, in italics) in one order by value."""
    head = "".join(f"<th>{_e(h)}</th>" for h in ["rank", "configuration", "runs", *metrics])
    rows = []
    for _, row in ranked.iterrows():
        is_config = row.get("kind", "configuration") == "configuration"
        values = [_td(_e(mean_std(row.get(f"{m} mean"), row.get(f"{m} std")))
                      + (f"<br><small>{_e(ci[2:])}</small>" if is_config and (
                          ci := ci_text(row, m)) else ""),
                      row.get(f"{m} mean"), raw=True) for m in metrics]
        if row.get("kind", "configuration") != "configuration":
            cells = [_td("–"), _td(row["label"]), _td("–")]  # a reference, not seeds
            rows.append("<tr class='reference'>" + "".join(cells + values) + "</tr>")
            continue
        swatch = f"<span class='swatch' style='background:{colours.get(row['label'], '#888')}'>"
        cells = [_td(str(int(row["rank"])), row["rank"]),
                 _td(f"{swatch}</span><code>{_e(row['label'])}</code>", row["label"], raw=True),
                 _td(runs_cell(row), row["n"])]
        rows.append("<tr>" + "".join(cells + values) + "</tr>")
    return (f"<table class='sortable' id='ranking'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _links(job_dir: Path, page_dir: Path) -> str:
    return " · ".join(f"<a href='{_e(Path(os.path.relpath(path, page_dir)).as_posix())}'>"
                      f"{_e(name)}</a>" for name, path in job_links(job_dir).items())


def runs_table(runs: pd.DataFrame, metrics: Sequence[str], page_dir: Path) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in ["job", "configuration", "seed", "status",
                                                 *metrics, "links", "error"])
    rows = []
    for _, row in runs.iterrows():
        values = [row.get(m, float("nan")) for m in metrics]
        cells = [_td(row["job"], row["job"]), _td(f"<code>{_e(row['label'])}</code>",
                                                  row["label"], raw=True),
                 _td(row["seed"]), _td(row["status"])]
        cells += [_td("" if pd.isna(v) else f"{v:.4f}", v) for v in values]
        cells += [_td(_links(Path(row["dir"]), page_dir), raw=True),
                  _td(short_error(row["error"], 400))]
        css = " class='failed'" if row["status"] in (FAILED, STALE) else ""
        rows.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return (f"<table class='sortable' id='runs'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def study_section(views: StudyViews, div_prefix: str = "optuna-0") -> str:
    best = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in views.best.items())
    parts = ["<h2>Optuna study</h2>",
             f"<p>study <code>{_e(views.name)}</code> in <code>{_e(views.storage)}</code>: "
             f"{views.n_trials} trials, {views.n_complete} complete, {_e(views.direction)}"
             + "".join(f" · {n} {_e(state)}" for state, n in sorted(views.states.items())
                       if state != "complete") + "</p>",
             f"<h3>best trial</h3><table id='best-trial'>{best}</table>" if best else
             "<p>no complete trial yet</p>",
             "<p>interactive study browser: <code>optuna-dashboard "
             f"{_e(views.storage)}</code> (pip install -e '.[dashboard]')</p>"]
    parts += [_plot(fig, f"{div_prefix}-{i}") for i, (_, fig) in enumerate(views.figures)]
    return "".join(parts)


def write_html(path: Path, *, title: str, header: str, table: pd.DataFrame, refs: pd.DataFrame,
               runs: pd.DataFrame, metrics: Sequence[str], colours: dict[str, str],
               plots: Sequence[tuple[str, go.Figure | None]],
               pngs: Sequence[tuple[Path | None, str]],
               studies: Sequence[StudyViews] = ()) -> Path:
    """``header`` is trusted HTML (built by the caller from escaped parts); ``table`` is the
    ranking (``table.ranking``: configurations and reference rows in one order)."""
    has_configs = len(table) and (table.get("kind", pd.Series(["configuration"])) ==
                                  "configuration").any()
    parts = [f"<h1>{_e(title)}</h1>", header, "<h2>Ranking</h2>",
             summary_table(table, metrics, colours) if has_configs
             else "<p>no finished runs</p>", "<h2>Figures</h2>"]
    parts += [_plot(fig, f"plot-{i}") for i, (_, fig) in enumerate(plots) if fig is not None]
    parts += [study_section(study, f"optuna-{i}") for i, study in enumerate(studies)]
    parts += ["<h2>Every job</h2>", runs_table(runs, metrics, path.parent),
              "<details><summary>static figures (the PNGs beside this page)</summary>",
              *[_png(p, caption) for p, caption in pngs], "</details>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
            f"{''.join(parts)}<script>{SORT_JS}</script></body></html>")
    with atomic_path(path) as tmp:  # a full disk never leaves a cut page under its name
        tmp.write_text(page, encoding="utf-8")
    return path
