"""Learning curves of a sweep as one table: per configuration and epoch, the mean and spread of
a validation metric over seeds. Both the PNG and the interactive figure draw from it, so a
configuration is one line with a band, never one line per seed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from bold5000_ae.report.collect import OK

CURVE_COLUMNS = ["label", "epoch", "mean", "std", "n"]


def epoch_curve(csv_path: Path, metric: str) -> pd.Series | None:
    """``metric`` per epoch from a job's CSV log; epochs counted from 1 (epochs completed), so
    a one-epoch run is a point at 1, not a line squeezed into 0.0-1.0."""
    try:
        log = pd.read_csv(csv_path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    if metric not in log.columns or "epoch" not in log.columns:
        return None
    curve = log[["epoch", metric]].dropna().groupby("epoch")[metric].last()
    if curve.empty:
        return None
    curve.index = curve.index.astype(int) + 1
    return curve


def curve_table(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Columns ``label, epoch, mean, std, n``: over the finished seeds of each configuration
    that logged ``metric`` at that epoch (std NaN where one seed did)."""
    rows = []
    for _, row in runs[runs["status"] == OK].iterrows():
        curve = epoch_curve(Path(row["dir"]) / "csv" / "metrics.csv", metric)
        if curve is not None:
            rows += [{"label": row["label"], "epoch": e, "value": v} for e, v in curve.items()]
    if not rows:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    grouped = pd.DataFrame(rows).groupby(["label", "epoch"], sort=False)["value"]
    table = pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1),
                          "n": grouped.size()}).reset_index()
    return table[CURVE_COLUMNS]


def all_curves(runs: pd.DataFrame, metrics: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The metrics at least one job logged, each as a ``curve_table``."""
    tables = {m: curve_table(runs, m) for m in metrics}
    return {m: t for m, t in tables.items() if not t.empty}
