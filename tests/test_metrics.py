"""Reconstruction metrics against their definitions: R² against the training mean, voxel-wise
r across samples, identification, SSIM inside the mask, and active units."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bold5000_ae.evaluation.metrics import ActiveUnits, ReconstructionMetrics


def test_reconstruction_metrics_match_definitions() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.randn(40, 30, generator=g)
    pred = 0.8 * target + 0.3 * torch.randn(40, 30, generator=g)
    metric = ReconstructionMetrics(30)
    for start in range(0, 40, 16):  # batches accumulate
        metric.update(pred[start:start + 16], target[start:start + 16])
    out = metric.compute()
    mse = ((pred - target) ** 2).mean()
    assert out["r2"].item() == pytest.approx(1 - mse.item() / (target ** 2).mean().item(),
                                             rel=1e-5)
    voxel_r = np.mean([np.corrcoef(pred[:, v], target[:, v])[0, 1] for v in range(30)])
    assert out["voxel_r"].item() == pytest.approx(voxel_r, rel=1e-4)
    assert out["identification"].item() > 0.95


def test_mean_volume_scores_zero_r2_and_chance_identification() -> None:
    g = torch.Generator().manual_seed(1)
    target = torch.randn(64, 50, generator=g)
    metric = ReconstructionMetrics(50)
    const = torch.linspace(-1, 1, 50).expand(64, 50) * 1e-3
    metric.update(const + 1e-6 * torch.randn(64, 50, generator=g), target)
    out = metric.compute()
    assert out["r2"].item() == pytest.approx(0.0, abs=1e-3)
    assert out["identification"].item() == pytest.approx(0.5, abs=0.05)


def test_ssim_is_one_for_a_perfect_reconstruction() -> None:
    mask = np.zeros((8, 8, 8), bool)
    mask[1:7, 1:7, 1:7] = True
    target = torch.randn(3, int(mask.sum()))
    metric = ReconstructionMetrics(int(mask.sum()), mask=mask)
    metric.update(target, target)
    assert metric.compute()["ssim"].item() == pytest.approx(1.0, abs=1e-5)
    metric.reset()
    metric.update(torch.randn_like(target), target)
    assert metric.compute()["ssim"].item() < 0.5


def test_ssim_max_scores_only_the_first_samples_of_each_epoch() -> None:
    mask = np.zeros((8, 8, 8), bool)
    mask[1:7, 1:7, 1:7] = True
    g = torch.Generator().manual_seed(2)
    target = torch.randn(6, int(mask.sum()), generator=g)
    pred = torch.cat([target[:3], torch.randn(3, target.shape[1], generator=g)])
    capped = ReconstructionMetrics(target.shape[1], mask=mask, ssim_max=3)
    full = ReconstructionMetrics(target.shape[1], mask=mask)
    for _ in range(2):  # the cap starts again after reset, as each validation epoch does
        for start in (0, 2, 4):  # the cap falls inside the second batch
            capped.update(pred[start:start + 2], target[start:start + 2])
            full.update(pred[start:start + 2], target[start:start + 2])
        assert capped.compute()["ssim"].item() == pytest.approx(1.0, abs=1e-5)
        assert full.compute()["ssim"].item() < 0.8
        assert capped.compute()["r2"].item() == pytest.approx(full.compute()["r2"].item())
        capped.reset()
        full.reset()


def test_active_units_count_varying_means() -> None:
    metric = ActiveUnits(latent_dim=4, threshold=0.01)
    means = torch.zeros(100, 4)
    means[:, 0] = torch.randn(100)
    means[:, 1] = 0.5 * torch.randn(100)
    means[:, 2] = 0.01 * torch.randn(100)  # variance 1e-4: collapsed
    metric.update(means[:50])
    metric.update(means[50:])
    assert metric.compute().item() == 2
