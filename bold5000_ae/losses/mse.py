"""Squared error summed over in-mask voxels, averaged over the batch (the default loss)."""

from __future__ import annotations

import torch
from torch import nn


class MaskedMSE(nn.Module):
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = nn.functional.mse_loss(pred, target, reduction="none").sum(dim=1).mean()
        return {"loss": loss, "mse": loss}
