"""The report's static figures (PNG, for papers and git): metric bars with seed error bars and
reference lines, learning curves as mean ± band over seeds, and a slice montage of one test
volume as each configuration reconstructs it, with its colour scale.

Every figure takes the same ``colours`` mapping (``palette``), so a configuration keeps its
colour from one figure to the next whatever order a figure draws it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bold5000_ae.report.collect import OK  # noqa: E402
from bold5000_ae.utils.atomic_io import atomic_path

EXAMPLE_FILE = Path("figures") / "example.npz"
REFERENCE_STYLES = ("--", ":", "-.", (0, (5, 1)), (0, (1, 3)))


def palette(labels: Sequence[str]) -> dict[str, str]:
    """One colour per configuration, assigned once (in rank order) for every figure."""
    cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    return {label: to_hex(cmap(i % cmap.N)) for i, label in enumerate(dict.fromkeys(labels))}


def _save(fig: plt.Figure, path: Path) -> Path:
    """Written under a temporary name and renamed: a full disk never leaves a cut PNG."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def metric_bars(table: pd.DataFrame, metrics: Sequence[str], path: Path,
                colours: dict[str, str], refs: pd.DataFrame | None = None) -> Path:
    """One panel per metric: a bar per configuration in rank order, error bar = std over seeds
    (none for one seed); baselines and ceilings as labelled horizontal lines."""
    labels = list(table["label"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(1.2 + 0.55 * len(labels) * len(metrics)
                                                        + 2.5 * len(metrics), 4.5),
                             squeeze=False)
    refs = refs if refs is not None else pd.DataFrame(columns=["label"])
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.bar(range(len(labels)), table[f"{metric} mean"],
               yerr=table[f"{metric} std"].fillna(0.0),
               color=[colours[label] for label in labels], capsize=3)
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
        ax.set_title(metric)
        ax.axhline(0.0, color="black", linewidth=0.6)
        column = f"{metric} mean"
        shown = refs[refs[column].notna()] if column in refs.columns else refs.iloc[0:0]
        for style, (_, ref) in zip(REFERENCE_STYLES * 4, shown.iterrows()):
            ax.axhline(ref[column], color="0.25", linestyle=style, linewidth=1.2,
                       label=f"{ref['label']} ({ref[column]:.3f})")
        if len(shown):
            ax.legend(fontsize=7, loc="best")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("mean ± std over seeds (rank order; lines: baselines and ceilings)")
    return _save(fig, path)


def learning_curves(curves: dict[str, pd.DataFrame], path: Path,
                    colours: dict[str, str]) -> Path | None:
    """One panel per metric: per configuration the mean over seeds with a ± std band; epochs
    on an integer axis. None when no job logged any of the metrics."""
    if not curves:
        return None
    fig, axes = plt.subplots(1, len(curves), figsize=(5.5 * len(curves), 4), squeeze=False)
    for ax, (metric, table) in zip(axes[0], curves.items(), strict=True):
        for label, line in table.groupby("label", sort=False):
            colour = colours.get(str(label), "0.5")
            ax.plot(line["epoch"], line["mean"], color=colour, marker="o", markersize=3,
                    label=f"{label} (n={int(line['n'].max())})")
            std = line["std"].fillna(0.0)
            ax.fill_between(line["epoch"], line["mean"] - std, line["mean"] + std,
                            color=colour, alpha=0.2, linewidth=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(f"{metric} (mean ± std over seeds)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def examples(runs: pd.DataFrame) -> list[tuple[str, np.ndarray, np.ndarray]]:
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
    sagittal, coronal, axial cuts through the centre, on the true volume's colour scale, which
    the colour bar states."""
    rank = {label: i for i, label in enumerate(order)}
    found = sorted(examples(runs), key=lambda e: rank.get(e[0], len(rank)))
    if not found:
        return None
    true = found[0][1]
    same = all(e[1].shape == true.shape and np.allclose(e[1], true) for e in found)
    nonzero = np.abs(true[true != 0])
    limit = float(np.percentile(nonzero, 99)) if nonzero.size else 1.0
    columns = [("true", true)] + [(label, recon) for label, _, recon in found]
    fig, axes = plt.subplots(3, len(columns), figsize=(1.9 * len(columns) + 1.0, 6),
                             squeeze=False)
    image = None
    for col, (label, volume) in enumerate(columns):
        centre = [n // 2 for n in volume.shape]
        cuts = (volume[centre[0]], volume[:, centre[1]], volume[:, :, centre[2]])
        for row, cut in enumerate(cuts):
            ax = axes[row, col]
            image = ax.imshow(np.rot90(cut), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(label, fontsize=7)
    for row, plane in enumerate(("sagittal", "coronal", "axial")):
        axes[row, 0].set_ylabel(plane)
    fig.colorbar(image, ax=axes, shrink=0.7, label="normalised BOLD (z)")
    note = "" if same else " (runs saw different test volumes: true column is the first's)"
    fig.suptitle("one test volume, reconstructed by each configuration" + note)
    return _save(fig, path)
