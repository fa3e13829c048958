"""Phase 1: an autoencoder of BOLD volumes (or vectors) as a LightningModule.

The module receives a built network (encoder + decoder), a loss, optional regularizers and a
partial optimizer from the config, and the brain mask from the data; it works on masked voxel
vectors, which ``MaskedNet`` scatters to volumes on the device when the net consumes volumes
(see ``components/base.py`` for the contract). The VAE (``vae.py``) reuses everything here and
changes only how a latent is drawn and which terms join the loss.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torchmetrics import Metric

from bold5000_ae.evaluation.metrics import ReconstructionMetrics
from bold5000_ae.losses import bind_mask
from bold5000_ae.losses.regularizers import Regularizer, Regularizers
from bold5000_ae.models.components.base import BoldModule
from bold5000_ae.models.components.masked import MaskedNet
from bold5000_ae.models.schedules import optimizer_and_schedule
from bold5000_ae.utils.masking import VolumeMask


class AutoencoderModule(BoldModule):
    # True where a step's decoder input is a random draw (the VAE): metrics then use the mean
    stochastic = False

    def __init__(self, net: nn.Module, loss: nn.Module, mask: np.ndarray | torch.Tensor,
                 optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None,
                 regularizer: Mapping[str, Regularizer] | None = None,
                 val_ssim_samples: int | None = 0,
                 metrics: Mapping[str, Metric] | None = None) -> None:
        super().__init__()
        # No save_hyperparameters: the composed config is saved beside the checkpoint, and
        # checkpoints then hold only tensors and plain values (loadable with weights_only=True).
        self.net, self.loss_fn = net, loss
        self.volume_mask = VolumeMask(mask)
        self.bold = MaskedNet(net.encoder, self.volume_mask, net.decoder)
        bind_mask(self.loss_fn, mask)
        self.regularizers = Regularizers(dict(regularizer or {}))
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        # validation SSIM on a fixed subset or none (the val loader does not shuffle); test: all
        # metrics added by config (model/metrics=[...]): one copy for validation, one for test
        extra = dict(metrics or {})
        self.val_metrics = ReconstructionMetrics(self.volume_mask.n_voxels, mask=mask,
                                                 ssim_max=val_ssim_samples,
                                                 extra=copy.deepcopy(extra))
        self.test_metrics = ReconstructionMetrics(self.volume_mask.n_voxels, mask=mask,
                                                  extra=copy.deepcopy(extra))
        self.example: dict[str, torch.Tensor] = {}

    def embed(self, bold: torch.Tensor) -> torch.Tensor:
        """The deterministic code used as features downstream (the mean, for a VAE)."""
        return self.bold.code(bold)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.bold.decode(latent)

    def forward(self, bold: torch.Tensor) -> torch.Tensor:
        """Masked vectors in, reconstructed masked vectors out (deterministic)."""
        return self.decode(self.embed(bold))

    def sample_latent(self, bold: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The code the decoder sees in a training/validation step, and extra loss terms."""
        return self.bold.code(bold), {}

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, dict]:
        target = batch["bold"]
        bold = self.regularizers.corrupt_input(target) if stage == "train" else target
        latent, extra = self.sample_latent(bold)
        if stage == "train":
            latent = self.regularizers.transform_latent(latent)
        recon = self.decode(latent)
        terms = self.combine_terms(self.loss_fn(recon, target), extra)
        if stage == "train":
            penalties = self.regularizers.penalties(latent, self.net)
            if penalties:
                terms["loss"] = terms["loss"] + sum(penalties.values())
                terms.update(penalties)
        self.log_dict({f"{stage}/{k}": v for k, v in terms.items()}, on_step=False,
                      on_epoch=True, batch_size=len(recon), prog_bar=stage != "train")
        return recon, terms

    def combine_terms(self, recon_terms: dict[str, torch.Tensor],
                      extra: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The AE optimises the reconstruction loss alone; the VAE adds β·KL here."""
        return dict(recon_terms)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[1]["loss"]

    def _eval_recon(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        recon, _ = self._step(batch, stage)
        return self(batch["bold"]) if self.stochastic else recon

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_metrics.update(self._eval_recon(batch, "val"), batch["bold"])

    def on_validation_epoch_end(self) -> None:
        self.log_dict({f"val/{k}": v for k, v in self.val_metrics.compute().items()},
                      prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        recon = self._eval_recon(batch, "test")
        self.test_metrics.update(recon, batch["bold"])
        if batch_idx == 0:
            self.example = {"true": batch["bold"][:1].detach().cpu(),
                            "recon": recon[:1].detach().float().cpu()}

    def on_test_epoch_end(self) -> None:
        self.log_dict({f"test/{k}": v for k, v in self.test_metrics.compute().items()})
        self.test_metrics.reset()

    def example_volumes(self) -> tuple[np.ndarray, np.ndarray]:
        """The first test sample and its reconstruction as volumes (for figures)."""
        mask = VolumeMask(self.volume_mask.mask.cpu())
        return (mask.to_volume(self.example["true"])[0, 0].numpy(),
                mask.to_volume(self.example["recon"])[0, 0].numpy())

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer,
                                    gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """A ``GradientClipping`` regularizer wins over the trainer's setting."""
        clip = self.regularizers.clip()
        if clip is not None:
            gradient_clip_val, gradient_clip_algorithm = clip
        self.clip_gradients(optimizer, gradient_clip_val=gradient_clip_val,
                            gradient_clip_algorithm=gradient_clip_algorithm)

    def configure_optimizers(self) -> Any:
        """The optimizer and, when configured, its schedule (``schedules.py``)."""
        return optimizer_and_schedule(self.optimizer_factory, self.scheduler_factory,
                                      self.parameters(), self.trainer)
