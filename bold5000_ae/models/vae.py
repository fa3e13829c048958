"""Phase 2: a variational autoencoder on the same encoder/decoder families.

The encoder is built with two heads (``encoder_heads: 2``) and returns the mean and
log-variance of a diagonal Gaussian posterior by name (``Encoder.posterior``). A step draws
z = μ + σ·ε (reparameterisation), decodes it, and adds β·KL(q(z|x) ‖ N(0, I)) in closed form to
the reconstruction loss, both summed over their units and averaged over the batch, so β = 1 is
the ELBO for a unit-variance Gaussian likelihood (up to its constant) and other values mean
what they say.

Two guards against posterior collapse, both config values: KL warm-up (β rises linearly from 0
over ``kl_warmup_epochs``) and free bits (each unit's batch-mean KL counts at least
``free_bits`` nats, so pushing a unit below that earns nothing). Active units are tracked on the
validation and test sets so collapse is visible in the logs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import Metric

from bold5000_ae.evaluation.metrics import ActiveUnits
from bold5000_ae.losses.regularizers import Regularizer
from bold5000_ae.models.autoencoder import AutoencoderModule
from bold5000_ae.models.components.base import Posterior


def gaussian_kl(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) ‖ N(0, 1)) per unit: (B, D) → (B, D)."""
    return 0.5 * (mean ** 2 + logvar.exp() - 1.0 - logvar)


class VAEModule(AutoencoderModule):
    stochastic = True

    def __init__(self, net: nn.Module, loss: nn.Module, mask: np.ndarray | torch.Tensor,
                 optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None,
                 regularizer: Mapping[str, Regularizer] | None = None, beta: float = 1.0,
                 kl_warmup_epochs: float = 0.0, free_bits: float = 0.0,
                 active_threshold: float = 0.01, val_ssim_samples: int | None = 0,
                 metrics: Mapping[str, Metric] | None = None) -> None:
        super().__init__(net, loss, mask, optimizer, scheduler, regularizer, val_ssim_samples,
                         metrics)
        if getattr(net.encoder, "heads", 1) != 2:
            raise ValueError("a VAE needs an encoder with two heads (model.net.encoder_heads=2)")
        self.beta, self.kl_warmup_epochs, self.free_bits = beta, kl_warmup_epochs, free_bits
        latent_dim = int(self.net.latent_dim)
        self.val_active = ActiveUnits(latent_dim, active_threshold)
        self.test_active = ActiveUnits(latent_dim, active_threshold)

    def posterior(self, bold: torch.Tensor) -> Posterior:
        """q(z|x) by name; the log-variance is clamped so exp() stays finite early in training."""
        mean, logvar = self.bold.posterior(bold)
        return Posterior(mean=mean, logvar=logvar.clamp(-12.0, 12.0))

    def current_beta(self) -> float:
        if self.kl_warmup_epochs <= 0 or self._trainer is None:
            return self.beta
        n = self.trainer.num_training_batches  # inf before the first training epoch starts
        batches = int(n) if math.isfinite(n) and n > 0 else 1
        progress = (self.trainer.current_epoch + self.trainer.fit_loop.batch_idx / batches)
        return self.beta * min(1.0, progress / self.kl_warmup_epochs)

    def sample_latent(self, bold: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        mean, logvar = self.posterior(bold)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        return z, {"kl_per_unit": gaussian_kl(mean, logvar).mean(dim=0)}

    def combine_terms(self, recon_terms: dict[str, torch.Tensor],
                      extra: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        kl_units = extra["kl_per_unit"]
        kl = kl_units.sum()
        kl_opt = kl_units.clamp_min(self.free_bits).sum() if self.free_bits > 0 else kl
        beta = self.current_beta()
        recon = recon_terms["loss"]
        terms = {f"recon/{k}" if k != "loss" else "recon": v for k, v in recon_terms.items()}
        terms.update({"kl": kl, "elbo": -(recon + kl), "beta": torch.tensor(beta),
                      "loss": recon + beta * kl_opt})
        return terms

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        self.val_active.update(self.embed(batch["bold"]))

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log("val/active_units", self.val_active.compute())
        self.val_active.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        super().test_step(batch, batch_idx)
        self.test_active.update(self.embed(batch["bold"]))

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self.log("test/active_units", self.test_active.compute())
        self.test_active.reset()
