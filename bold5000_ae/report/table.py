"""The comparison table: shared metrics per configuration, mean and spread over seeds, ranked.

Only metrics every loss is judged by (R², Pearson r, identification accuracy, AUC) enter the
table: a run's own loss value is not comparable across losses, so it is never shown.

The baselines every run recorded on its own test rows (training mean, PCA-k with the same
latent size) and the ceilings are rows of the ranking, placed by value (``ranking``): the first
question a sweep must answer is whether any configuration beats PCA-k.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from bold5000_ae.evaluation.reconstruction_references import reference
from bold5000_ae.report.collect import OK


def present_metrics(runs: pd.DataFrame, wanted: Sequence[str]) -> list[str]:
    """The wanted metrics that at least one finished run reported, in the wanted order."""
    return [m for m in wanted if m in runs.columns and runs[m].notna().any()]


def t_interval(values: pd.Series, confidence: float = 0.95) -> tuple[float, float]:
    """Student's t interval for the mean of ``values`` (NaN, NaN for fewer than two)."""
    from scipy import stats

    finite = values.dropna().astype(float)
    if len(finite) < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf((1 + confidence) / 2, len(finite) - 1)
                 * finite.std(ddof=1) / math.sqrt(len(finite)))
    return float(finite.mean()) - half, float(finite.mean()) + half


def summarise(runs: pd.DataFrame, metrics: Sequence[str], rank_by: str,
              higher_is_better: bool = True, confidence: float = 0.95) -> pd.DataFrame:
    """One row per configuration (``label``): ``n`` finished runs, of ``seeds`` seeds and
    ``folds`` folds (1 when no fold was swept); per metric ``<m> mean``, ``<m> std`` (sample std
    over the runs; NaN for one run, where a spread is not defined) and ``<m> ci_low`` /
    ``<m> ci_high``, the t interval of the mean at ``confidence`` (every seed of every fold is
    one run); ranked by ``rank_by``'s mean (rank 1 is best). Configurations whose every run
    failed get no row; the run list shows them."""
    done = runs[runs["status"] == OK]
    if done.empty or not metrics:
        return pd.DataFrame(columns=["rank", "label", "n", "seeds", "folds"])
    grouped = done.groupby("label", sort=False)
    table = pd.DataFrame({"n": grouped.size()})
    table["seeds"] = grouped["seed"].nunique() if "seed" in done else 1
    table["folds"] = (grouped["fold"].nunique() if "fold" in done else 1)
    table["folds"] = table["folds"].clip(lower=1)
    for metric in metrics:
        table[f"{metric} mean"] = grouped[metric].mean()
        table[f"{metric} std"] = grouped[metric].std(ddof=1)
        bounds = grouped[metric].apply(lambda v: t_interval(v, confidence))
        table[f"{metric} ci_low"] = [low for low, _ in bounds]
        table[f"{metric} ci_high"] = [high for _, high in bounds]
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
                name = "/".join(parts[1:cut])
                known = reference(name)
                return (known.label if known else "baseline: " + name), metric
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


def reference_kind(label: str) -> str:
    """``baseline`` or ``ceiling``, from a reference row's label (``"baseline: pca_k"``)."""
    return "ceiling" if label.startswith("ceiling") else "baseline"


def ranking(table: pd.DataFrame, refs: pd.DataFrame, metrics: Sequence[str], rank_by: str,
            higher_is_better: bool = True) -> pd.DataFrame:
    """The configurations and the reference rows (baselines, ceilings) in one order, by
    ``rank_by``'s mean: a configuration keeps its ``rank``; a reference row takes its place by
    value (rank NaN, ``kind`` baseline or ceiling), so the ranking itself says which
    configurations beat PCA-k. On a tie the configuration goes first; references with no value
    for ``rank_by`` go last. ``position`` numbers the rows of this order."""
    key = f"{rank_by if rank_by in metrics else (metrics[0] if metrics else rank_by)} mean"
    configs = table.assign(kind="configuration")
    ref_rows = refs.assign(kind=[reference_kind(str(x)) for x in refs["label"]], rank=math.nan)
    frames = [f for f in (configs, ref_rows) if len(f)]
    if not frames:
        return pd.DataFrame(columns=["position", "rank", "kind", "label", "n"])
    both = pd.concat(frames, ignore_index=True)
    if key in both.columns:
        order = both[key].astype(float) * (-1 if higher_is_better else 1)
        tie = (both["kind"] != "configuration").astype(int)
        both = both.assign(_o=order, _t=tie).sort_values(
            ["_o", "_t"], na_position="last", kind="stable").drop(columns=["_o", "_t"])
    both.insert(0, "position", range(1, len(both) + 1))
    return both.reset_index(drop=True)


def beats_lines(table: pd.DataFrame, refs: pd.DataFrame, metric: str,
                higher_is_better: bool = True) -> list[str]:
    """One sentence per baseline: how many configurations beat it on ``metric`` (mean over
    seeds), and the best configuration's value beside it."""
    key = f"{metric} mean"
    if key not in table.columns or key not in refs.columns or not len(table):
        return []
    values = table[key].astype(float)
    best = table.loc[values.idxmax() if higher_is_better else values.idxmin()]
    lines = []
    for _, ref in refs.iterrows():
        if reference_kind(str(ref["label"])) != "baseline" or pd.isna(ref.get(key)):
            continue
        better = int(((values > ref[key]) if higher_is_better else (values < ref[key])).sum())
        lines.append(f"{ref['label']} ({metric} {ref[key]:.4f}): {better} of {len(values)} "
                     f"configurations beat it; the best, `{best['label']}`, has {best[key]:.4f}.")
    return lines


def runs_cell(row: pd.Series) -> str:
    """How many runs a configuration's row holds: ``3``, or ``6 (3 seeds × 2 folds)``."""
    n, folds = int(row["n"]), int(row.get("folds", 1) or 1)
    if folds <= 1:
        return str(n)
    return f"{n} ({int(row.get('seeds', 1))} seeds × {folds} folds)"


def ci_text(row: pd.Series, metric: str, digits: int = 4) -> str:
    """``, CI [low, high]`` for a configuration's ``metric``; empty where there is none."""
    low, high = row.get(f"{metric} ci_low"), row.get(f"{metric} ci_high")
    if not isinstance(low, float) or math.isnan(low):
        return ""
    return f", CI [{low:.{digits}f}, {high:.{digits}f}]"


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
                refs: pd.DataFrame | None = None, rank_by: str | None = None,
                higher_is_better: bool = True) -> str:
    """``mean ± std`` cells, one column per metric (pandas' to_markdown needs tabulate);
    reference rows (baselines, ceilings) in italics, placed in the ranking by ``rank_by``'s value
    (default: the first metric), with no rank of their own."""
    refs = refs if refs is not None else pd.DataFrame(columns=["label", "n"])
    rank_by = rank_by or (metrics[0] if metrics else "")
    rows = ranking(table, refs, metrics, rank_by, higher_is_better)
    header = ["rank", "configuration", "runs", *metrics]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in rows.iterrows():
        is_config = row["kind"] == "configuration"
        if is_config:
            cells = [str(int(row["rank"])), f"`{_cell(row['label'])}`", runs_cell(row)]
        else:
            cells = ["–", f"*{_cell(row['label'])}*", "–"]  # a reference has no seeds
        cells += [mean_std(row.get(f"{m} mean"), row.get(f"{m} std"))
                  + (ci_text(row, m) if is_config and m == rank_by else "") for m in metrics]
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
