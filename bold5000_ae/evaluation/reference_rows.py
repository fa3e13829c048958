"""Baselines as fixed rows of a sweep's ranking (the hook ``bold5000_ae.report`` calls).

Why rows and not footnotes: the first question a loss or architecture sweep must answer is
whether any configuration beats PCA with the same latent size; ranked among the
configurations, the answer is read off the table. Each finished run recorded its own baselines
(``baseline/<name>/test/<metric>`` in metrics.json, from the same test rows), so a baseline row
is the mean over those runs, with the same seeds-based spread as any configuration.
"""

from __future__ import annotations

import pandas as pd

from bold5000_ae.evaluation.reconstruction_references import references


def reference_runs(runs: pd.DataFrame, metrics: list[str], ok: str = "ok") -> pd.DataFrame:
    """Pseudo-runs, one per finished run and baseline, whose ``<split>/<metric>`` columns hold
    that run's ``baseline/<name>/<split>/<metric>``: concatenate them to ``runs`` before ranking.

    ``runs``: one row per job with ``status``, ``label``, ``seed`` and metric columns, as the
    report collects them. Metrics with no recorded baseline are left NaN."""
    done = runs[runs["status"] == ok]
    rows = []
    for reference in references():
        label, name = reference.ranking_label, reference.name
        for _, run in done.iterrows():
            values = {m: run.get(f"baseline/{name}/{m}", float("nan")) for m in metrics}
            if all(pd.isna(v) for v in values.values()):
                continue
            rows.append({**run.drop(labels=metrics, errors="ignore").to_dict(), **values,
                         "label": label})
    return pd.DataFrame(rows, columns=list(runs.columns)) if rows else runs.iloc[0:0]
