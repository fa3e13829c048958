"""The report's interactive figures (Plotly): the same data and colours as the PNGs, with hover,
zoom and a parallel-coordinates view over the swept parameters.

Plotly is chosen because its JS bundle can be embedded in the page (``plotly_js``), so the HTML
works offline and as one file; the figures are plain ``go.Figure`` objects, which Optuna's
visualization module also returns, so one page shows both.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bold5000_ae.report.collect import OK, split_override

DASHES = ("dash", "dot", "dashdot", "longdash", "longdashdot")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def bars(table: pd.DataFrame, metrics: Sequence[str], colours: dict[str, str],
         refs: pd.DataFrame) -> go.Figure:
    """A bar per configuration (rank order) per metric, ± std over seeds; each baseline and
    ceiling a dashed line across its metric's panel."""
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=list(metrics))
    labels = list(table["label"])
    for col, metric in enumerate(metrics, start=1):
        fig.add_trace(go.Bar(
            x=labels, y=table[f"{metric} mean"], marker_color=[colours[x] for x in labels],
            error_y={"type": "data", "array": table[f"{metric} std"].fillna(0.0).tolist()},
            customdata=table["n"], showlegend=False, name=metric,
            hovertemplate="%{x}<br>%{y:.4f} (n=%{customdata})<extra></extra>"), 1, col)
        column = f"{metric} mean"
        shown = refs[refs[column].notna()] if column in refs.columns else refs.iloc[0:0]
        for dash, (_, ref) in zip(DASHES * 4, shown.iterrows()):
            fig.add_trace(go.Scatter(
                x=[labels[0], labels[-1]] if labels else [0, 1], y=[ref[column]] * 2,
                mode="lines", line={"color": "#444", "dash": dash, "width": 1.5},
                name=f"{ref['label']} ({ref[column]:.3f})", legendgroup=str(ref["label"]),
                showlegend=col == 1 or metric not in metrics[:col - 1]), 1, col)
    fig.update_layout(title="shared metrics, mean ± std over seeds (lines: baselines, ceilings)",
                      height=450, margin={"b": 140})
    return fig


def curves(curve_tables: dict[str, pd.DataFrame], colours: dict[str, str]) -> go.Figure:
    """Validation curves: per configuration the mean over seeds and a ± std band."""
    fig = make_subplots(rows=1, cols=len(curve_tables), subplot_titles=list(curve_tables))
    for col, table in enumerate(curve_tables.values(), start=1):
        for label, line in table.groupby("label", sort=False):
            colour = colours.get(str(label), "#888888")
            std = line["std"].fillna(0.0)
            band_x = list(line["epoch"]) + list(line["epoch"])[::-1]
            band_y = list(line["mean"] + std) + list(line["mean"] - std)[::-1]
            fig.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", mode="lines",
                                     line={"width": 0}, fillcolor=_rgba(colour, 0.2),
                                     hoverinfo="skip", showlegend=False,
                                     legendgroup=str(label)), 1, col)
            fig.add_trace(go.Scatter(
                x=line["epoch"], y=line["mean"], mode="lines+markers", name=str(label),
                line={"color": colour}, legendgroup=str(label), showlegend=col == 1,
                customdata=line[["std", "n"]].to_numpy(),
                hovertemplate=f"{label}<br>epoch %{{x}}: %{{y:.4f}} ± %{{customdata[0]:.4f}}"
                              " (n=%{customdata[1]})<extra></extra>"), 1, col)
        fig.update_xaxes(title_text="epoch", dtick=1, row=1, col=col)
    fig.update_layout(title="validation curves, mean ± std over seeds", height=420)
    return fig


def _numeric(values: pd.Series) -> pd.Series | None:
    converted = pd.to_numeric(values, errors="coerce")
    return converted if converted.notna().all() else None


def parallel(runs: pd.DataFrame, objective: str) -> go.Figure | None:
    """One line per finished job across the swept parameters (those that differ between jobs),
    ending at ``objective``; categorical values get one tick each. None with nothing swept."""
    done = runs[(runs["status"] == OK)]
    if done.empty or objective not in done.columns:
        return None
    params = pd.DataFrame([dict(split_override(o) for o in overrides)
                           for overrides in done["overrides"]], index=done.index)
    swept = [c for c in params.columns if params[c].nunique(dropna=False) > 1]
    if not swept:
        return None
    dimensions = []
    for name in swept:
        values = params[name].fillna("(default)").astype(str)
        numbers = _numeric(values)
        if numbers is not None:
            dimensions.append({"label": name, "values": numbers.tolist()})
        else:
            levels = sorted(values.unique())
            codes = values.map({v: i for i, v in enumerate(levels)})
            dimensions.append({"label": name, "values": codes.tolist(),
                               "tickvals": list(range(len(levels))), "ticktext": levels})
    dimensions.append({"label": objective, "values": done[objective].tolist()})
    fig = go.Figure(go.Parcoords(line={"color": done[objective].tolist(),
                                       "colorscale": "Viridis", "showscale": True},
                                 dimensions=dimensions))
    fig.update_layout(title=f"swept parameters → {objective} (one line per job)", height=420)
    return fig
