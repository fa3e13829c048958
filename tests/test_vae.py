"""The VAE: analytic KL against torch.distributions, β warm-up and free bits as stated, recon
and KL logged apart, and fewer active units when β is raised (posterior collapse made visible)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from bold5000_ae.cli.train import train
from bold5000_ae.losses.mse import MaskedMSE
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from bold5000_ae.models.vae import VAEModule, gaussian_kl
from tests.helpers.hydra import TINY_TRAIN, compose_config


def test_kl_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)


def _vae(**kw) -> VAEModule:
    net = Conv3dAutoencoderNet((6, 6, 6), channels=[2], latent_dim=3, encoder_heads=2)
    module = VAEModule(net, MaskedMSE(), np.ones((6, 6, 6), bool), torch.optim.SGD, **kw)
    module.log_dict = lambda *a, **k: None
    return module


def test_loss_is_recon_plus_beta_kl_with_free_bits() -> None:
    module = _vae(beta=2.0, free_bits=0.5)
    recon = {"loss": torch.tensor(10.0), "mse": torch.tensor(10.0)}
    kl_units = torch.tensor([0.1, 1.0, 2.0])
    terms = module.combine_terms(recon, {"kl_per_unit": kl_units})
    assert terms["kl"].item() == pytest.approx(3.1)  # logged: the true KL
    assert terms["loss"].item() == pytest.approx(10 + 2 * (0.5 + 1.0 + 2.0))  # optimised
    assert terms["elbo"].item() == pytest.approx(-13.1)
    assert terms["recon"].item() == 10 and "recon/mse" in terms


def test_kl_warmup_is_linear_in_epochs() -> None:
    module = _vae(beta=4.0, kl_warmup_epochs=2)

    class _Trainer:
        num_training_batches, current_epoch = 10, 1
        fit_loop = type("L", (), {"batch_idx": 5})()

    module._trainer = _Trainer()
    type(module).trainer = property(lambda self: self._trainer)
    try:
        assert module.current_beta() == pytest.approx(4.0 * 1.5 / 2)
    finally:
        del type(module).trainer
    assert _vae(beta=4.0).current_beta() == 4.0


def test_mean_is_the_deterministic_code() -> None:
    module = _vae().eval()
    bold = torch.randn(2, 216)
    torch.testing.assert_close(module(bold), module(bold))
    mean, _ = module.posterior(bold)
    torch.testing.assert_close(module.embed(bold), mean)


def test_active_units_fall_when_beta_rises(prepared_h5: Path, tmp_path: Path) -> None:
    def active(beta: float, warmup: float = 0) -> dict[str, float]:
        # each run in a folder of its own (a folder holds one run)
        return train(compose_config("train", [
            f"data.path={prepared_h5}", *TINY_TRAIN, "model=vae", f"model.beta={beta}",
            f"model.kl_warmup_epochs={warmup}", "trainer.max_epochs=4",
            "model.net.latent_dim=8"], tmp_path / f"beta{beta}"))

    low, high = active(0.01, warmup=1), active(1000.0)  # warm-up through Lightning too
    for m in (low, high):
        assert {"test/kl", "test/recon", "test/elbo", "test/active_units"} <= set(m)
        assert all(math.isfinite(m[k]) for k in ("test/kl", "test/recon", "test/r2"))
    assert low["test/active_units"] >= 4
    assert high["test/active_units"] <= low["test/active_units"] - 3
    assert high["test/kl"] < low["test/kl"]
