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

import numpy as np
import torch
from torchmetrics import CatMetric, MeanMetric, MeanSquaredError, Metric, PearsonCorrCoef
from torchmetrics.functional import pairwise_cosine_similarity

from bold5000_ae.losses.pearson import per_sample_pearson
from bold5000_ae.losses.ssim import ssim_map
from bold5000_ae.utils.masking import VolumeMask


def similarity_matrix(pred: torch.Tensor, target: torch.Tensor,
                      kind: str = "pearson") -> torch.Tensor:
    """(N, N) similarity of every prediction (rows) to every target (columns)."""
    if kind == "pearson":
        pred = pred - pred.mean(dim=1, keepdim=True)
        target = target - target.mean(dim=1, keepdim=True)
    elif kind != "cosine":
        raise ValueError(f"kind must be 'pearson' or 'cosine', got {kind!r}")
    return pairwise_cosine_similarity(pred.float(), target.float())


def pairwise_identification(similarity: torch.Tensor) -> torch.Tensor:
    """Fraction of (i, j ≠ i) pairs where prediction i is more similar to its own target than to
    target j (2-way identification over all pairs; chance 0.5)."""
    n = similarity.shape[0]
    if n < 2:
        return torch.tensor(float("nan"))
    own = similarity.diagonal().unsqueeze(1)
    wins = (own > similarity).float()
    return (wins.sum() / (n * (n - 1))).float()


def n_way_identification(similarity: torch.Tensor, n_way: int, trials: int = 20,
                         seed: int = 0) -> torch.Tensor:
    """For each prediction, draw ``n_way − 1`` distractor targets at random (``trials`` times) and
    score a hit when its own target is the most similar; chance is 1 / n_way."""
    n = similarity.shape[0]
    if n < n_way:
        return torch.tensor(float("nan"))
    rng = np.random.default_rng(seed)
    sim = similarity.detach().cpu().numpy()
    hits = []
    for i in range(n):
        others = np.delete(np.arange(n), i)
        for _ in range(trials):
            distractors = rng.choice(others, size=n_way - 1, replace=False)
            hits.append(sim[i, i] > sim[i, distractors].max())
    return torch.tensor(float(np.mean(hits)))


class ReconstructionMetrics(Metric):
    """MSE, R² against the reference (training mean), mean per-sample Pearson r, voxel-wise r
    across samples, and pairwise identification accuracy.

    ``identification_max``: identification keeps the first that many samples (memory grows
    with N × V); voxel-wise r needs at least two samples. With ``mask`` given, also the mean
    local 3D SSIM over in-mask voxels (torchmetrics' SSIM map) of the first ``ssim_max``
    samples (``None``: all, 0: none). Why a cap: the SSIM map is a 3D Gaussian convolution of
    five volumes per sample, dearer than the autoencoder's own forward pass; on a CPU, SSIM of a
    whole validation split every epoch made the default ``make train`` 20% slower."""

    full_state_update = False

    def __init__(self, n_voxels: int, reference: torch.Tensor | None = None,
                 identification_max: int = 512, mask: np.ndarray | torch.Tensor | None = None,
                 ssim_data_range: float = 8.0, ssim_max: int | None = None) -> None:
        super().__init__()
        self.volume_mask = None if mask is None else VolumeMask(mask)
        self.ssim_data_range, self.ssim_max, self.n_ssim = ssim_data_range, ssim_max, 0
        self.ssim = MeanMetric()
        self.mse = MeanSquaredError()
        self.reference_mse = MeanSquaredError()
        self.pearson = MeanMetric()
        self.voxel_r = PearsonCorrCoef(num_outputs=n_voxels)
        self.kept_pred, self.kept_target = CatMetric(), CatMetric()
        self.identification_max, self.n_kept = identification_max, 0
        self.register_buffer("reference", reference if reference is not None
                             else torch.zeros(n_voxels))

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        pred, target = pred.float(), target.float()
        self.mse.update(pred, target)
        self.reference_mse.update(self.reference.expand_as(target).contiguous(), target)
        self.pearson.update(per_sample_pearson(pred, target))
        self.voxel_r.update(pred, target)
        n_ssim = len(pred) if self.ssim_max is None else min(len(pred),
                                                             self.ssim_max - self.n_ssim)
        if self.volume_mask is not None and n_ssim > 0:
            vm = self.volume_mask.to(pred.device)
            full = ssim_map(vm.to_volume(pred[:n_ssim]), vm.to_volume(target[:n_ssim]),
                            self.ssim_data_range, 1.0)
            self.ssim.update(vm.to_vector(full).mean(dim=1))
            self.n_ssim += n_ssim
        room = self.identification_max - self.n_kept
        if room > 0:
            self.kept_pred.update(pred[:room])
            self.kept_target.update(target[:room])
            self.n_kept += min(room, len(pred))

    def compute(self) -> dict[str, torch.Tensor]:
        mse = self.mse.compute()
        out = {"mse": mse, "r2": 1 - mse / self.reference_mse.compute(),
               "pearson_r": self.pearson.compute()}
        if self.n_kept >= 2:
            out["voxel_r"] = torch.nan_to_num(self.voxel_r.compute()).mean()
            sim = similarity_matrix(self.kept_pred.compute(), self.kept_target.compute())
            out["identification"] = pairwise_identification(sim)
        if self.n_ssim:
            out["ssim"] = self.ssim.compute()
        return out

    def reset(self) -> None:
        super().reset()
        for metric in (self.mse, self.reference_mse, self.pearson, self.voxel_r, self.ssim,
                       self.kept_pred, self.kept_target):
            metric.reset()
        self.n_kept = self.n_ssim = 0


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
