"""Send a saved matplotlib figure to whichever loggers can show it."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from lightning.pytorch.loggers import Logger, TensorBoardLogger, WandbLogger


def log_figure(loggers: Sequence[Logger], key: str, figure: plt.Figure, step: int = 0) -> None:
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(key, figure, global_step=step, close=False)
        elif isinstance(logger, WandbLogger):
            import wandb

            logger.experiment.log({key: wandb.Image(figure)})
    plt.close(figure)
