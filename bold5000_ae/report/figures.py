"""The report's three figures: metric bars with seed error bars, overlaid learning curves, and a
slice montage of one test volume as each configuration reconstructs it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bold5000_ae.report.collect import OK  # noqa: E402

EXAMPLE_FILE = Path("figures") / "example.npz"


def _colours(labels: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def metric_bars(table: pd.DataFrame, metrics: Sequence[str], path: Path) -> Path:
    """One panel per metric: a bar per configuration in rank order, error bar = std over seeds."""
    labels = list(table["label"])
    colours = _colours(labels)
    fig, axes = plt.subplots(1, len(metrics), figsize=(1.2 + 0.55 * len(labels) * len(metrics)
                                                        + 2.5 * len(metrics), 4.5),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.bar(range(len(labels)), table[f"{metric} mean"], yerr=table[f"{metric} std"],
               color=[colours[label] for label in labels], capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(metric)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("mean ± std over seeds (rank order)")
    return _save(fig, path)


def _epoch_curve(csv_path: Path, metric: str) -> pd.Series | None:
    try:
        log = pd.read_csv(csv_path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    if metric not in log.columns or "epoch" not in log.columns:
        return None
    curve = log[["epoch", metric]].dropna().groupby("epoch")[metric].last()
    return curve if not curve.empty else None


def learning_curves(runs: pd.DataFrame, metrics: Sequence[str], path: Path) -> Path | None:
    """Validation curves from every job's ``csv/metrics.csv``, one colour per configuration
    (seeds share it). Returns None when no job logged any of the metrics."""
    done = runs[runs["status"] == OK]
    colours = _colours(list(dict.fromkeys(done["label"])))
    curves = {m: [(row["label"], c) for _, row in done.iterrows()
                  if (c := _epoch_curve(Path(row["dir"]) / "csv" / "metrics.csv", m)) is not None]
              for m in metrics}
    curves = {m: c for m, c in curves.items() if c}
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (metric, lines) in zip(axes[0], curves.items(), strict=True):
        seen: set[str] = set()
        for label, curve in lines:
            ax.plot(curve.index, curve.values, color=colours[label], alpha=0.8,
                    label=None if label in seen else label)
            seen.add(label)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def _examples(runs: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(label, true, reconstructed) from the first finished seed of each configuration, in the
    order given (the ranked order)."""
    found = []
    for label, group in runs[runs["status"] == OK].groupby("label", sort=False):
        for _, row in group.iterrows():
            try:
                with np.load(Path(row["dir"]) / EXAMPLE_FILE) as saved:
                    found.append((str(label), saved["true"], saved["recon"]))
                break
            except (OSError, KeyError, ValueError):
                continue
    return found


def slice_montage(runs: pd.DataFrame, order: Sequence[str], path: Path) -> Path | None:
    """Columns: the true test volume, then each configuration's reconstruction of it; rows:
    sagittal, coronal, axial cuts through the centre, on the true volume's colour scale."""
    rank = {label: i for i, label in enumerate(order)}
    examples = sorted(_examples(runs), key=lambda e: rank.get(e[0], len(rank)))
    if not examples:
        return None
    true = examples[0][1]
    same = all(e[1].shape == true.shape and np.allclose(e[1], true) for e in examples)
    nonzero = np.abs(true[true != 0])
    limit = float(np.percentile(nonzero, 99)) if nonzero.size else 1.0
    columns = [("true", true)] + [(label, recon) for label, _, recon in examples]
    fig, axes = plt.subplots(3, len(columns), figsize=(1.9 * len(columns), 6), squeeze=False)
    for col, (label, volume) in enumerate(columns):
        centre = [n // 2 for n in volume.shape]
        cuts = (volume[centre[0]], volume[:, centre[1]], volume[:, :, centre[2]])
        for row, cut in enumerate(cuts):
            ax = axes[row, col]
            ax.imshow(np.rot90(cut), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=7)
    for row, plane in enumerate(("sagittal", "coronal", "axial")):
        axes[row, 0].set_ylabel(plane)
    note = "" if same else " (runs saw different test volumes: true column is the first's)"
    fig.suptitle("one test volume, reconstructed by each configuration" + note)
    return _save(fig, path)
