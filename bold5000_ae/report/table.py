"""The comparison table: shared metrics per configuration, mean and spread over seeds, ranked.

Only metrics every loss is judged by (R², Pearson r, identification accuracy, AUC) enter the
table: a run's own loss value is not comparable across losses, so it is never shown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from bold5000_ae.report.collect import OK


def present_metrics(runs: pd.DataFrame, wanted: Sequence[str]) -> list[str]:
    """The wanted metrics that at least one finished run reported, in the wanted order."""
    return [m for m in wanted if m in runs.columns and runs[m].notna().any()]


def summarise(runs: pd.DataFrame, metrics: Sequence[str], rank_by: str,
              higher_is_better: bool = True) -> pd.DataFrame:
    """One row per configuration (``label``): ``n`` finished seeds, ``<m> mean`` and ``<m> std``
    (sample std over seeds, 0 for one seed) per metric, ranked by ``rank_by``'s mean (rank 1 is
    best). Configurations whose every seed failed get no row; the run list shows them."""
    done = runs[runs["status"] == OK]
    if done.empty or not metrics:
        return pd.DataFrame(columns=["rank", "label", "n"])
    grouped = done.groupby("label", sort=False)
    table = pd.DataFrame({"n": grouped.size()})
    for metric in metrics:
        table[f"{metric} mean"] = grouped[metric].mean()
        table[f"{metric} std"] = grouped[metric].std(ddof=1).fillna(0.0)
    key = f"{rank_by if rank_by in metrics else metrics[0]} mean"
    table = table.sort_values(key, ascending=not higher_is_better, na_position="last")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index()


def _cell(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def to_markdown(table: pd.DataFrame, metrics: Sequence[str]) -> str:
    """``mean ± std`` cells, one column per metric (pandas' to_markdown needs tabulate)."""
    header = ["rank", "configuration", "seeds", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["rank"]), f"`{_cell(row['label'])}`", str(row["n"])]
        cells += [f"{_cell(row[f'{m} mean'])} ± {_cell(row[f'{m} std'])}" for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def runs_markdown(runs: pd.DataFrame, metrics: Sequence[str]) -> str:
    """Every job: its overrides, status and metrics, or its error when it failed."""
    header = ["job", "configuration", "seed", "status", *metrics, "error"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in runs.iterrows():
        cells = [str(row["job"]), f"`{_cell(row['label'])}`", str(row["seed"]),
                 str(row["status"])]
        cells += [_cell(row.get(m, float("nan"))) for m in metrics]
        cells.append(_cell(short_error(row["error"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def short_error(error: str, limit: int = 200) -> str:
    """The last line of an error (where the message is), cut to ``limit`` characters."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    return text if len(text) <= limit else text[: limit - 1] + "…"
