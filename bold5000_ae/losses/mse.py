"""Squared error summed over in-mask voxels, averaged over the batch (the default loss).

Names carry one unit each: ``loss`` is the optimised objective (summed over voxels, so a VAE's β
means what it says); ``mse`` is the per-voxel mean, the same unit as ``val/mse``/``test/mse``
from the metrics, so train and validation curves overlay.
"""

from __future__ import annotations

import torch
from torch import nn


class MaskedMSE(nn.Module):
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        squared = nn.functional.mse_loss(pred, target, reduction="none")
        return {"loss": squared.sum(dim=1).mean(), "mse": squared.mean().detach()}
