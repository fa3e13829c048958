"""Learning-rate schedules stepped every optimizer step over the whole run.

Why not ``torch.optim.lr_scheduler.OneCycleLR``: it stores its length in the checkpoint and
raises when a resumed run asks for more epochs ("Tried to step N times"). Here the length
comes from the trainer each time the optimizer is configured (``AutoencoderModule`` passes
``total_steps``) and ``LambdaLR`` keeps only the step count, so a resumed run with a larger
``trainer.max_epochs`` stretches the remaining schedule instead of failing; past the end the
rate holds at its final value.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int,
                  warmup_fraction: float = 0.05, final_fraction: float = 1e-4) -> LambdaLR:
    """Linear warm-up from 0 over ``warmup_fraction`` of the steps, then cosine annealing from
    the optimizer's rate to ``final_fraction`` of it."""
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}")
    total = max(int(total_steps), 1)
    warmup = max(int(round(warmup_fraction * total)), 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def optimizer_and_schedule(optimizer_factory: Callable[..., torch.optim.Optimizer],
                           scheduler_factory: Callable[..., Any] | None,
                           params: Iterable[torch.nn.Parameter], trainer: Any) -> Any:
    """What ``configure_optimizers`` returns: the optimizer over ``params`` and, when configured,
    its schedule. A schedule that takes ``total_steps`` (``warmup_cosine``) is stepped every
    batch over the whole run's optimizer steps; any other once per epoch on ``val/loss``."""
    optimizer = optimizer_factory(params=params)
    if scheduler_factory is None:
        return optimizer
    if "total_steps" in inspect.signature(scheduler_factory).parameters:
        total = max(int(trainer.estimated_stepping_batches), 1)
        schedule = {"scheduler": scheduler_factory(optimizer=optimizer, total_steps=total),
                    "interval": "step"}
    else:
        schedule = {"scheduler": scheduler_factory(optimizer=optimizer), "monitor": "val/loss",
                    "interval": "epoch"}
    return {"optimizer": optimizer, "lr_scheduler": schedule}
