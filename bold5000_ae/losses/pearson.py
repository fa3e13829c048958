"""Negative Pearson correlation across voxels, per sample.

The term is ``1 − r`` (the negative correlation shifted so a perfect reconstruction scores 0),
averaged over the batch. It ignores each sample's offset and scale, so it rewards the spatial
pattern alone; pair it with MSE in a weighted sum when the amplitude matters. A per-sample
scalar has no voxel sum: for z-scored samples Σ_v (x̂ − x)² = 2V(1 − r), which is the factor to
weigh it against MSE.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.functional import pearson_corrcoef


def per_sample_pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson r across voxels for each sample: (B, V) × (B, V) → (B,)."""
    if pred.shape[0] == 1:
        return pearson_corrcoef(pred[0], target[0]).reshape(1)
    return pearson_corrcoef(pred.T, target.T)


class NegativePearson(nn.Module):
    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        r = per_sample_pearson(pred, target)
        loss = (1 - r).mean()
        return {"loss": loss, "neg_pearson": loss}
