"""The ``torch.nn`` elementwise losses that suit BOLD data, under the package convention.

Each is the ``torch.nn.functional`` loss with ``reduction='none'``, summed over in-mask voxels and
averaged over the batch: ``MaskedMSE`` is Σ_v (x̂ − x)², ``MaskedL1`` Σ_v |x̂ − x|, and the robust
ones (SmoothL1, Huber) behave like MSE near the target and like L1 in the tails, which helps with
the spikes and motion outliers real BOLD has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _sum_voxels(per_voxel: torch.Tensor) -> torch.Tensor:
    return per_voxel.sum(dim=1).mean()


class MaskedL1(nn.Module):
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = _sum_voxels(F.l1_loss(pred, target, reduction="none"))
        return {"loss": loss, "l1": loss}


class MaskedSmoothL1(nn.Module):
    """``beta``: where the quadratic part hands over to the linear one (data units)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = _sum_voxels(F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta))
        return {"loss": loss, "smooth_l1": loss}


class MaskedHuber(nn.Module):
    """Huber = ``delta`` × SmoothL1(beta=delta): same shape, slope ``delta`` in the tails."""

    def __init__(self, delta: float = 1.0) -> None:
        super().__init__()
        self.delta = delta

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = _sum_voxels(F.huber_loss(pred, target, reduction="none", delta=self.delta))
        return {"loss": loss, "huber": loss}
