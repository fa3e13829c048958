"""Reconstruction metrics with their baseline, on masked voxel vectors (torchmetrics-based).

R² is against the training-mean volume, not the test-set mean: 1 − MSE(model)/MSE(train mean).
After the datamodule's normalisation the training mean is the zero vector, which is the default
reference; pass another reference when data are not mean-centred.

Besides MSE/R²/per-sample r: voxel-wise r (each voxel's correlation across samples: does the
model follow that voxel's trial-to-trial changes?), 3D SSIM inside the mask, and pairwise
identification (is a reconstruction closer to its own target than to another sample's?), which
stays honest when a model reconstructs only the average volume: that scores high per-sample r
but 50% identification.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torchmetrics import (
    CatMetric,
    MeanSquaredError,
    Metric,
    MetricCollection,
    PearsonCorrCoef,
)

from bold5000_ae.evaluation.identification import pairwise_identification, similarity_matrix
from bold5000_ae.losses.pearson import per_sample_pearson
from bold5000_ae.losses.ssim import ssim_map
from bold5000_ae.utils.masking import VolumeMask


class ReconstructionMetrics(Metric):
    """MSE, R² against the reference (training mean), mean per-sample Pearson r, voxel-wise r
    across samples, and pairwise identification accuracy.

    ``identification_max``: identification keeps the first that many samples (memory grows
    with N × V); voxel-wise r needs at least two samples. With ``mask`` given, also the mean
    local 3D SSIM over in-mask voxels (torchmetrics' SSIM map) of the first ``ssim_max``
    samples (``None``: all, 0: none). Why a cap: the SSIM map is a 3D Gaussian convolution of
    five volumes per sample, dearer than the autoencoder's own forward pass; on a CPU, SSIM of a
    whole validation split every epoch made the default ``make train`` 20% slower.

    ``extra``: more torchmetrics ``Metric``s by name (the plug-in point, ``model/metrics=[...]``,
    ``conf/model/metrics/``), each updated with the same masked vectors ``(pred, target)`` of
    shape (B, V) and reported under its name (the mean, where it returns several values)."""

    full_state_update = False

    def __init__(self, n_voxels: int, reference: torch.Tensor | None = None,
                 identification_max: int = 512, mask: np.ndarray | torch.Tensor | None = None,
                 ssim_data_range: float = 8.0, ssim_max: int | None = None,
                 extra: Mapping[str, Metric] | None = None) -> None:
        super().__init__()
        self.volume_mask = None if mask is None else VolumeMask(mask)
        self.ssim_data_range, self.ssim_max = ssim_data_range, ssim_max
        self.identification_max = identification_max
        # One collection: reset, device moves and DDP sync act on every part at once. How many
        # samples SSIM and identification have seen is read off their concatenated states
        # (host-side shapes, no device sync), so no counter needs resetting by hand.
        self.parts = MetricCollection({
            "mse": MeanSquaredError(), "reference_mse": MeanSquaredError(),
            "pearson": CatMetric(), "voxel_r": PearsonCorrCoef(num_outputs=n_voxels),
            "ssim": CatMetric(), "kept_pred": CatMetric(), "kept_target": CatMetric()},
            compute_groups=False)
        self.extra = MetricCollection(dict(extra or {}), compute_groups=False)
        self.register_buffer("reference", reference if reference is not None
                             else torch.zeros(n_voxels))

    @property
    def n_ssim(self) -> int:
        return _n_rows(self.parts["ssim"])

    @property
    def n_kept(self) -> int:
        return _n_rows(self.parts["kept_pred"])

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred, target = pred.float(), target.float()
        parts = self.parts
        parts["mse"].update(pred, target)
        parts["reference_mse"].update(self.reference.expand_as(target).contiguous(), target)
        parts["pearson"].update(per_sample_pearson(pred, target))
        parts["voxel_r"].update(pred, target)
        n_ssim = len(pred) if self.ssim_max is None else min(len(pred),
                                                             self.ssim_max - self.n_ssim)
        # SSIM needs a 3D neighbourhood: none on ROI columns (grid (V, 1, 1))
        if self.volume_mask is not None and n_ssim > 0 and min(self.volume_mask.shape) > 1:
            vm = self.volume_mask.to(pred.device)
            full = ssim_map(vm.to_volume(pred[:n_ssim]), vm.to_volume(target[:n_ssim]),
                            self.ssim_data_range, 1.0)
            parts["ssim"].update(vm.to_vector(full).mean(dim=1))
        for metric in self.extra.values():
            metric.update(pred, target)
        room = self.identification_max - self.n_kept
        if room > 0:
            parts["kept_pred"].update(pred[:room])
            parts["kept_target"].update(target[:room])

    def compute(self) -> dict[str, torch.Tensor]:
        parts = self.parts
        mse = parts["mse"].compute()
        out = {"mse": mse, "r2": 1 - mse / parts["reference_mse"].compute(),
               "pearson_r": parts["pearson"].compute().mean()}
        if self.n_kept >= 2:
            out["voxel_r"] = torch.nan_to_num(parts["voxel_r"].compute()).mean()
            ref = self.reference.float()  # centred: a shared training mean would dominate
            sim = similarity_matrix(parts["kept_pred"].compute() - ref,
                                    parts["kept_target"].compute() - ref)
            out["identification"] = pairwise_identification(sim)
        if self.n_ssim:
            out["ssim"] = parts["ssim"].compute().mean()
        out.update({name: metric.compute().float().mean() for name, metric in self.extra.items()})
        return out

    def reset(self) -> None:
        super().reset()
        self.parts.reset()
        self.extra.reset()


def _n_rows(metric: CatMetric) -> int:
    """Rows a CatMetric holds (a list of batches, or one tensor after a sync)."""
    value = metric.value
    return int(value.shape[0]) if torch.is_tensor(value) else sum(len(v) for v in value)


class ActiveUnits(Metric):
    """Latent units whose posterior mean varies across samples: Var_x(E[z_j | x]) > threshold
    (Burda et al. 2016, threshold 0.01). Collapsed units ignore the input and fall below it."""

    full_state_update = False

    def __init__(self, latent_dim: int, threshold: float = 0.01) -> None:
        super().__init__()
        self.threshold = threshold
        self.add_state("total", torch.zeros(latent_dim, dtype=torch.float64), "sum")
        self.add_state("total_sq", torch.zeros(latent_dim, dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, mean: torch.Tensor) -> None:
        mean = mean.detach().double()
        self.total += mean.sum(0)
        self.total_sq += (mean ** 2).sum(0)
        self.count += mean.shape[0]

    def variances(self) -> torch.Tensor:
        mu = self.total / self.count
        return (self.total_sq / self.count - mu ** 2).clamp_min(0)

    def compute(self) -> torch.Tensor:
        return (self.variances() > self.threshold).sum().float()
