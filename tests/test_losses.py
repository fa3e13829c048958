"""Each loss against a value computed by hand on a tiny tensor (the convention: summed over
voxels, averaged over the batch), plus the weighted sum, SSIM inside the mask, and every
model/loss config instantiating."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bold5000_ae.losses import bind_mask
from bold5000_ae.losses.bce import MaskedBCEWithLogits
from bold5000_ae.losses.elementwise import MaskedHuber, MaskedL1, MaskedSmoothL1
from bold5000_ae.losses.mse import MaskedMSE
from bold5000_ae.losses.pearson import NegativePearson
from bold5000_ae.losses.ssim import MaskedSSIM3d
from bold5000_ae.losses.weighted import WeightedSum
from bold5000_ae.utils.config import CONFIG_DIR

# two samples, three voxels; errors (pred - target): [1, -2, 0] and [0.5, 0, 3]
TARGET = torch.tensor([[0.0, 1.0, 2.0], [1.0, -1.0, 0.0]])
PRED = torch.tensor([[1.0, -1.0, 2.0], [1.5, -1.0, 3.0]])


def test_mse() -> None:
    # sample 1: 1 + 4 + 0 = 5; sample 2: 0.25 + 0 + 9 = 9.25; mean 7.125
    assert MaskedMSE()(PRED, TARGET)["loss"].item() == pytest.approx(7.125)


def test_l1() -> None:
    # (1 + 2 + 0 + 0.5 + 0 + 3) / 2
    assert MaskedL1()(PRED, TARGET)["loss"].item() == pytest.approx(3.25)


def test_smooth_l1() -> None:
    # beta=1: |e|<1 → 0.5 e², else |e| − 0.5: [0.5, 1.5, 0] and [0.125, 0, 2.5] → (2 + 2.625)/2
    assert MaskedSmoothL1(beta=1.0)(PRED, TARGET)["loss"].item() == pytest.approx(2.3125)


def test_huber_delta_two() -> None:
    # delta=2: |e|≤2 → 0.5 e², else 2(|e| − 1): [0.5, 2, 0] and [0.125, 0, 4] → (2.5 + 4.125)/2
    assert MaskedHuber(delta=2.0)(PRED, TARGET)["loss"].item() == pytest.approx(3.3125)


def test_bce_on_sigmoid_scaled_target() -> None:
    def bce(logit: float, target: float) -> float:
        p, t = 1 / (1 + math.exp(-logit)), 1 / (1 + math.exp(-target))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    expected = np.mean([sum(bce(p, t) for p, t in zip(prow, trow))
                        for prow, trow in zip(PRED.tolist(), TARGET.tolist())])
    assert MaskedBCEWithLogits()(PRED, TARGET)["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_bce_is_minimal_at_the_target() -> None:
    loss = MaskedBCEWithLogits(temperature=2.0)
    at_target = loss(TARGET, TARGET)["loss"]
    for shift in (-0.3, 0.3):
        assert loss(TARGET + shift, TARGET)["loss"] > at_target


def test_negative_pearson() -> None:
    # sample 1: pred [1,-1,2] vs [0,1,2]: centred [1/3,-5/3,4/3]·[-1,0,1] = 1,
    #   norms sqrt(42/9) and sqrt(2) → r = 1/sqrt(28/3); sample 2: [1.5,-1,3] vs [1,-1,0]
    r1 = 1 / math.sqrt(42 / 9 * 2)
    p2, t2 = np.array([1.5, -1, 3]), np.array([1.0, -1, 0])
    r2 = np.corrcoef(p2, t2)[0, 1]
    expected = ((1 - r1) + (1 - r2)) / 2
    assert NegativePearson()(PRED, TARGET)["loss"].item() == pytest.approx(expected, rel=1e-5)


def test_weighted_sum_keeps_every_term() -> None:
    loss = WeightedSum({"mse": MaskedMSE(), "l1": MaskedL1()}, {"mse": 2.0, "l1": 0.5})
    out = loss(PRED, TARGET)
    assert out["loss"].item() == pytest.approx(2 * 7.125 + 0.5 * 3.25)
    # the "mse" term is the per-voxel mean (squares 1, 4, 0, 0.25, 0, 9 over 6 values), while
    # the objective sums over voxels (5 and 9.25, batch mean 7.125)
    assert out["mse/mse"].item() == pytest.approx(14.25 / 6)
    assert out["mse/loss"].item() == pytest.approx(7.125)
    assert out["l1/l1"].item() == pytest.approx(3.25)


def test_ssim_zero_at_target_and_positive_elsewhere() -> None:
    mask = np.zeros((5, 5, 5), bool)
    mask[1:4, 1:4, 1:4] = True
    loss = MaskedSSIM3d(data_range=4.0, sigma=0.5)
    bind_mask(WeightedSum({"s": loss}, {"s": 1.0}), mask)  # reaches nested losses
    target = torch.randn(2, 27)
    assert loss(target, target)["loss"].item() == pytest.approx(0.0, abs=1e-5)
    worse = loss(target.flip(1), target)["loss"].item()
    # summed over 27 in-mask voxels: bounded by 27 × (1 − (−1))
    assert 0.5 < worse < 54


def test_ssim_needs_the_mask() -> None:
    with pytest.raises(RuntimeError, match="mask"):
        MaskedSSIM3d()(PRED, TARGET)


@pytest.mark.parametrize("name", sorted(p.stem for p in
                                        (Path(CONFIG_DIR) / "model" / "loss").glob("*.yaml")))
def test_every_loss_config_gives_a_finite_scalar(name: str) -> None:
    loss = instantiate(OmegaConf.load(Path(CONFIG_DIR) / "model" / "loss" / f"{name}.yaml"))
    mask = np.ones((6, 6, 6), bool)
    bind_mask(loss, mask)
    target = torch.randn(3, 216)
    pred = (target + 0.3 * torch.randn(3, 216)).requires_grad_()
    out = loss(pred, target)
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
