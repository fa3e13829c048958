"""The autoencoder end to end on the tiny data: every net family trains through the real entry
point, regularizers compose from the config group and act at the point they claim to."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.losses.regularizers import (
    GradientClipping,
    InputNoise,
    KLSparsity,
    LatentL1,
    LatentL2,
    Regularizers,
    WeightDecay,
)
from bold5000_ae.models.autoencoder import AutoencoderModule
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from tests.helpers.hydra import TINY_TRAIN, compose_config


def test_phase1_reports_reconstruction_metrics_with_baseline(train_cfg) -> None:
    cfg = train_cfg(["experiment=phase1_autoencoder", "model/regularizer=[latent_l2,input_noise]",
                     "model.val_ssim_samples=8"])
    metrics = train(cfg)
    for key in ("test/r2", "test/pearson_r", "test/voxel_r", "test/identification", "test/ssim",
                "val/ssim", "train/reg/latent_l2", "ground_truth/noise_ceiling_r2"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert -1 <= metrics["test/voxel_r"] <= 1 and 0 <= metrics["test/identification"] <= 1
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["test/r2"] == pytest.approx(metrics["test/r2"])


@pytest.mark.parametrize("net", ["mlp", "conv2d"])
def test_other_net_families_train(prepared_h5, tmp_path, net: str) -> None:
    base = [o for o in TINY_TRAIN if not o.startswith("model.net.")]
    extra = [f"model/net={net}", "model.net.latent_dim=8", "trainer.max_epochs=1"]
    extra += ["model.net.hidden=[32]"] if net == "mlp" else ["model.net.channels=[8,16]"]
    metrics = train(compose_config("train", [f"data.path={prepared_h5}", *base, *extra],
                                   tmp_path))
    assert math.isfinite(metrics["test/r2"]) and math.isfinite(metrics["test/ssim"])
    assert "val/ssim" not in metrics  # off by default (model.val_ssim_samples=0)


def _module(**regs) -> AutoencoderModule:
    mask = np.ones((6, 6, 6), bool)
    net = Conv3dAutoencoderNet((6, 6, 6), channels=[2], latent_dim=3)
    from bold5000_ae.losses.mse import MaskedMSE
    return AutoencoderModule(net, MaskedMSE(), mask, torch.optim.SGD, regularizer=regs)


def test_penalties_match_their_definitions() -> None:
    z = torch.tensor([[1.0, -2.0, 0.0], [0.0, 1.0, 3.0]])
    net = torch.nn.Linear(2, 2)
    assert LatentL1(0.5).penalty(z, net).item() == pytest.approx(0.5 * (3 + 4) / 2)
    assert LatentL2(0.5).penalty(z, net).item() == pytest.approx(0.5 * (5 + 10) / 2)
    assert WeightDecay(2.0).penalty(z, net).item() == pytest.approx(
        2.0 * (net.weight ** 2).sum().item())  # the bias is not decayed
    rho_hat = torch.sigmoid(z).mean(0)
    kl = (0.1 * torch.log(0.1 / rho_hat) + 0.9 * torch.log(0.9 / (1 - rho_hat))).sum()
    assert KLSparsity(1.0, 0.1).penalty(z, net).item() == pytest.approx(kl.item(), rel=1e-5)


def test_regularizers_compose_and_hit_their_hooks() -> None:
    regs = Regularizers({"noise": InputNoise(0.5), "l1": LatentL1(1.0),
                         "clip": GradientClipping(0.25, "value")})
    x = torch.zeros(4, 10)
    assert regs.corrupt_input(x).std() > 0.2  # noise on the input
    assert set(regs.penalties(torch.ones(2, 3), torch.nn.Linear(1, 1))) == {"reg/l1"}
    assert regs.clip() == (0.25, "value")


def test_denoising_keeps_the_target_clean() -> None:
    module = _module(noise=InputNoise(10.0))
    bold = torch.randn(3, 216)
    seen = {}
    module.loss_fn.register_forward_hook(lambda m, args, out: seen.update(target=args[1]))
    module.log_dict = lambda *a, **k: None
    module._step({"bold": bold}, "train")
    assert torch.equal(seen["target"], bold)


def test_gradient_clipping_regularizer_clips() -> None:
    module = _module(clip=GradientClipping(1e-3, "value"))
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    for p in module.parameters():
        p.grad = torch.full_like(p, 5.0)
    module.clip_gradients = lambda o, gradient_clip_val, gradient_clip_algorithm: \
        torch.nn.utils.clip_grad_value_(module.parameters(), gradient_clip_val)
    module.configure_gradient_clipping(opt, None, None)
    assert max(p.grad.abs().max().item() for p in module.parameters()) == pytest.approx(1e-3)
