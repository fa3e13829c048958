"""Reconstruction metrics with their baseline, on masked voxel vectors (torchmetrics-based).

R² is against the training-mean volume, not the test-set mean: 1 − MSE(model)/MSE(train mean).
After the datamodule's normalisation the training mean is the zero vector, which is the default
reference; pass another reference when data are not mean-centred.
"""

from __future__ import annotations

import torch
from torchmetrics import MeanMetric, MeanSquaredError, Metric
from torchmetrics.functional import pearson_corrcoef


def per_sample_pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pearson r across voxels for each sample: (B, V) × (B, V) → (B,)."""
    if pred.shape[0] == 1:
        return pearson_corrcoef(pred[0], target[0]).reshape(1)
    return pearson_corrcoef(pred.T, target.T)


class ReconstructionMetrics(Metric):
    """Accumulates MSE, MSE of the reference (training mean) and mean per-sample Pearson r."""

    full_state_update = False

    def __init__(self, n_voxels: int, reference: torch.Tensor | None = None) -> None:
        super().__init__()
        self.mse = MeanSquaredError()
        self.reference_mse = MeanSquaredError()
        self.pearson = MeanMetric()
        self.register_buffer("reference", reference if reference is not None
                             else torch.zeros(n_voxels))

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred, target = pred.float(), target.float()
        self.mse.update(pred, target)
        self.reference_mse.update(self.reference.expand_as(target).contiguous(), target)
        self.pearson.update(per_sample_pearson(pred, target))

    def compute(self) -> dict[str, torch.Tensor]:
        mse = self.mse.compute()
        return {"mse": mse, "r2": 1 - mse / self.reference_mse.compute(),
                "pearson_r": self.pearson.compute()}

    def reset(self) -> None:
        super().reset()
        for metric in (self.mse, self.reference_mse, self.pearson):
            metric.reset()
