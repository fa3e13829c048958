"""``results.csv`` → the markdown table in the few-shot README (between its markers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _cell(row: pd.Series, name: str) -> str:
    value = row.get(name)
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.3f} [{row[name + '_low']:.3f}, {row[name + '_high']:.3f}]"


def format_table(table: pd.DataFrame) -> str:
    """One row per (sessions, method, seed): each metric with its 95% CI over test trials."""
    lines = ["| sessions (train rows) | method | seed | recon R² | signal R² (twin) | "
             "transfer AUC |", "|---|---|---|---|---|---|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['sessions']} ({row['train_rows']}) | {row['method']} | "
                     f"{row['seed']} | {_cell(row, 'recon_r2')} | {_cell(row, 'signal_r2')} | "
                     f"{_cell(row, 'auc')} |")
    return "\n".join(lines)


def write_readme(table: pd.DataFrame, readme: Path, settings: dict[str, Any]) -> None:
    """Replace the table between the markers (the prose around it is kept)."""
    text = readme.read_text() if readme.is_file() else f"# Few-shot\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    shown = {k: v for k, v in settings.items() if k != "out"}  # where it wrote: not a setting
    block = (f"{BEGIN}\nSettings: `{shown}`; test rows: "
             f"{int(table['test_rows'].iloc[0])} (sessions 5 and 6 of the new subject).\n\n"
             f"{format_table(table)}\n{END}")
    head, rest = text.split(BEGIN, 1)
    readme.write_text(head + block + rest.split(END, 1)[1])
