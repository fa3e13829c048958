"""Phase 1: a convolutional autoencoder of BOLD volumes as a LightningModule.

The module receives a built network (encoder + decoder), a loss and a partial optimizer from the
config, and the brain mask from the data; it works on masked voxel vectors and scatters them to
volumes on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from torch import nn

from bold5000_ae.metrics import ReconstructionMetrics
from bold5000_ae.models.components.masking import VolumeMask


class AutoencoderModule(LightningModule):
    def __init__(self, net: nn.Module, loss: nn.Module, mask: np.ndarray | torch.Tensor,
                 optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None) -> None:
        super().__init__()
        # No save_hyperparameters: the composed config is saved beside the checkpoint, and
        # checkpoints then hold only tensors and plain values (loadable with weights_only=True).
        self.net, self.loss_fn = net, loss
        self.volume_mask = VolumeMask(mask)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        n_vox = self.volume_mask.n_voxels
        self.val_metrics = ReconstructionMetrics(n_vox)
        self.test_metrics = ReconstructionMetrics(n_vox)
        self.example: dict[str, torch.Tensor] = {}

    def encode(self, bold: torch.Tensor) -> torch.Tensor:
        return self.net.encoder(self.volume_mask.to_volume(bold))

    def forward(self, bold: torch.Tensor) -> torch.Tensor:
        """Masked vectors in, reconstructed masked vectors out."""
        return self.volume_mask.to_vector(self.net.decoder(self.encode(bold)))

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, dict]:
        recon = self(batch["bold"])
        terms = self.loss_fn(recon, batch["bold"])
        self.log_dict({f"{stage}/{k}": v for k, v in terms.items()}, on_step=False,
                      on_epoch=True, batch_size=len(recon), prog_bar=stage != "train")
        return recon, terms

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[1]["loss"]

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        recon, _ = self._step(batch, "val")
        self.val_metrics.update(recon, batch["bold"])

    def on_validation_epoch_end(self) -> None:
        self.log_dict({f"val/{k}": v for k, v in self.val_metrics.compute().items()},
                      prog_bar=True)
        self.val_metrics.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        recon, _ = self._step(batch, "test")
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

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer),
                                 "monitor": "val/loss", "interval": "epoch"}}
