"""Figures saved as PNG and handed to whichever loggers can show them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger  # noqa: E402


def orthogonal_slices(true_volume: np.ndarray, reconstructed: np.ndarray, path: str | Path,
                      title: str = "") -> plt.Figure:
    """True (top) and reconstructed (bottom) sagittal, coronal and axial slices through the
    volume's centre, on a shared colour scale so differences are visible."""
    centre = [n // 2 for n in true_volume.shape]
    limit = float(np.percentile(np.abs(true_volume[true_volume != 0]), 99)) if (
        true_volume != 0).any() else 1.0
    fig, axes = plt.subplots(2, 3, figsize=(9, 6))
    for row, (name, vol) in enumerate((("true", true_volume), ("reconstructed", reconstructed))):
        cuts = (vol[centre[0]], vol[:, centre[1]], vol[:, :, centre[2]])
        for col, (plane, cut) in enumerate(zip(("sagittal", "coronal", "axial"), cuts)):
            ax = axes[row, col]
            im = ax.imshow(np.rot90(cut), cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(f"{name} · {plane}", fontsize=9)
            ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.6, label="normalised BOLD")
    if title:
        fig.suptitle(title)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return fig


def log_figure(loggers: Sequence[Logger], key: str, figure: plt.Figure, step: int = 0) -> None:
    """Hand a drawn figure to TensorBoard and wandb (the CSV logger cannot show one), then close
    it so a long run does not accumulate open figures."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(key, figure, global_step=step, close=False)
        elif isinstance(logger, WandbLogger):
            import wandb

            logger.experiment.log({key: wandb.Image(figure)})
    plt.close(figure)
