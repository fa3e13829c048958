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
    (sample std over seeds; NaN for one seed, where a spread is not defined) per metric, ranked
    by ``rank_by``'s mean (rank 1 is best). Configurations whose every seed failed get no row;
    the run list shows them."""
    done = runs[runs["status"] == OK]
    if done.empty or not metrics:
        return pd.DataFrame(columns=["rank", "label", "n"])
    grouped = done.groupby("label", sort=False)
    table = pd.DataFrame({"n": grouped.size()})
    for metric in metrics:
        table[f"{metric} mean"] = grouped[metric].mean()
        table[f"{metric} std"] = grouped[metric].std(ddof=1)
    key = f"{rank_by if rank_by in metrics else metrics[0]} mean"
    table = table.sort_values(key, ascending=not higher_is_better, na_position="last")
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index()


def reference_metric(column: str, metrics: Sequence[str],
                     ceilings: dict[str, str]) -> tuple[str, str] | None:
    """(reference name, compared metric) for a reference column of ``metrics.json``, or None.

    ``baseline/<name>/<split>/<metric>`` is any baseline a run computed on its own split (train
    mean, PCA-k, ...): it is compared with ``<split>/<metric>``. ``ceilings`` maps other columns
    (``ground_truth/noise_ceiling_r2``) to the metric they bound."""
    if column.startswith("baseline/"):
        parts = column.split("/")
        for cut in range(2, len(parts)):
            metric = "/".join(parts[cut:])
            if metric in metrics:
                return "baseline: " + "/".join(parts[1:cut]), metric
        return None
    if column in ceilings and ceilings[column] in metrics:
        return "ceiling: " + column.split("/")[-1], ceilings[column]
    return None


def references(runs: pd.DataFrame, metrics: Sequence[str],
               ceilings: dict[str, str]) -> pd.DataFrame:
    """Fixed rows beside the ranking: each baseline and ceiling the finished runs reported, as
    ``label``, ``n`` and ``<metric> mean/std`` over runs (every run of a sweep shares the split,
    so these agree up to the seed's effect on the baseline; std NaN where they agree exactly)."""
    done = runs[runs["status"] == OK]
    rows: dict[str, dict[str, float]] = {}
    for column in done.columns:
        found = reference_metric(str(column), metrics, ceilings)
        if found is None or not done[column].notna().any():
            continue
        name, metric = found
        row = rows.setdefault(name, {"label": name, "n": int(done[column].notna().sum())})
        row[f"{metric} mean"] = float(done[column].mean())
        varies = done[column].dropna().nunique() > 1  # one value: no "± 0.0000"
        row[f"{metric} std"] = float(done[column].std(ddof=1)) if varies else math.nan
    return pd.DataFrame(list(rows.values()), columns=["label", "n", *(
        f"{m} {s}" for m in metrics for s in ("mean", "std"))])


def mean_std(mean: object, std: object, digits: int = 4) -> str:
    """``mean ± std``; just the mean where there is no spread to show (one seed)."""
    if not isinstance(mean, float) or math.isnan(mean):
        return "–"
    if not isinstance(std, float) or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _cell(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value).replace("|", "\\|")


def to_markdown(table: pd.DataFrame, metrics: Sequence[str],
                refs: pd.DataFrame | None = None) -> str:
    """``mean ± std`` cells, one column per metric (pandas' to_markdown needs tabulate);
    reference rows (baselines, ceilings) follow, unranked, in italics."""
    header = ["rank", "configuration", "seeds", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["rank"]), f"`{_cell(row['label'])}`", str(row["n"])]
        cells += [mean_std(row[f"{m} mean"], row[f"{m} std"]) for m in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    for _, row in (refs if refs is not None else pd.DataFrame()).iterrows():
        cells = ["–", f"*{_cell(row['label'])}*", str(row["n"])]
        cells += [mean_std(row.get(f"{m} mean"), row.get(f"{m} std")) for m in metrics]
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
