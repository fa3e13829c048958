"""Drawn figures handed to whichever loggers can show them."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger  # noqa: E402


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
