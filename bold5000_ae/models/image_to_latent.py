"""Phase 4: a CNN from the stimulus image to the frozen BOLD encoder's latent.

The BOLD autoencoder (encoder and decoder, copied from an AE/VAE checkpoint's ``net.*`` by the
training layer, ``training/pipeline.py``; ``pretrained`` records which) is frozen and in eval
mode; it turns each BOLD sample into its target latent and turns a predicted latent back into a
predicted BOLD volume. The image CNN is trained on the latent MSE (summed over latent units,
batch mean). Metrics: latent cosine similarity, 2-way and 50-way identification of the true
latent among the test set's latents (chance 1/2 and 1/50), and R² / r of the decoded volume
against the measured one, beside the AE's own reconstruction of it (the ceiling a perfect
latent prediction would reach). Identification never counts a same-image (so same-trial)
sample as a distractor, and is shown beside two reference predictors on the same test rows,
``image_mean`` (the image-only prediction from the image's other trials) and ``category_mean``
(category only): see ``evaluation/identification.py``. Identification compares centred
latents: the mean of the training rows' latents (accumulated while training, kept in the
checkpoint) is removed from predictions and targets. Use image-disjoint splits
(``data.split.image_disjoint``), or identification rewards memorised images.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import CatMetric, CosineSimilarity

from bold5000_ae.evaluation.identification import identification_metrics, reference_predictions
from bold5000_ae.evaluation.metrics import ReconstructionMetrics
from bold5000_ae.models.components.base import BoldModule
from bold5000_ae.models.components.masked import FrozenLayersMixin, MaskedNet
from bold5000_ae.utils.masking import VolumeMask


class ImageToLatentModule(FrozenLayersMixin, BoldModule):
    def __init__(self, image_net: nn.Module, bold_net: nn.Module,
                 mask: np.ndarray | torch.Tensor,
                 optimizer: Callable[..., torch.optim.Optimizer],
                 pretrained: str | None = None, n_way: int = 50) -> None:
        super().__init__()
        self.image_net, self.bold_net = image_net, bold_net
        self.pretrained = pretrained
        self.freeze([self.bold_net])  # frozen: batch-norm statistics stay the AE's
        self.latent_dim = int(bold_net.latent_dim)
        self.volume_mask = VolumeMask(mask)
        self.bold = MaskedNet(bold_net.encoder, self.volume_mask, bold_net.decoder)
        self.optimizer_factory, self.n_way = optimizer, n_way
        n_vox = self.volume_mask.n_voxels
        self.test_cosine = CosineSimilarity(reduction="mean")
        self.test_pred, self.test_true = CatMetric(), CatMetric()
        self.test_image, self.test_label, self.test_bold = CatMetric(), CatMetric(), CatMetric()
        self.test_trial = CatMetric()  # (subject, session, run, trial) of each test row
        self.register_buffer("train_latent_sum", torch.zeros(self.latent_dim, dtype=torch.float64))
        self.register_buffer("train_latent_count", torch.zeros((), dtype=torch.float64))
        # a checkpoint written before the mean was recorded loads with none (count 0)
        self.optional_state = ("train_latent_sum", "train_latent_count")
        self.predicted_bold = ReconstructionMetrics(n_vox)
        self.autoencoded_bold = ReconstructionMetrics(n_vox)
        self.val_cosine = CosineSimilarity(reduction="mean")

    def pretrained_parts(self) -> dict[str, nn.Module]:
        """Checkpoint prefix → the submodule that starts from those weights."""
        return {"net.": self.bold_net}

    @torch.no_grad()
    def embed(self, bold: torch.Tensor) -> torch.Tensor:
        """The frozen BOLD encoder's latent: the target the image CNN learns to predict."""
        return self.bold.code(bold)

    @torch.no_grad()
    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return self.bold.decode(latent)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.image_net(image)

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> tuple[torch.Tensor, ...]:
        pred, true = self(batch["image"]), self.embed(batch["bold"])
        loss = F.mse_loss(pred, true, reduction="none").sum(dim=1).mean()
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(pred),
                 prog_bar=stage != "train")
        return loss, pred, true

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, _, true = self._step(batch, "train")
        self.train_latent_sum += true.detach().double().sum(0)  # frozen encoder: same each epoch
        self.train_latent_count += len(true)
        return loss

    def latent_center(self) -> torch.Tensor | None:
        """The training rows' mean latent, the centre identification removes (None untrained)."""
        if self.train_latent_count <= 0:
            return None
        return (self.train_latent_sum / self.train_latent_count).float()

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, pred, true = self._step(batch, "val")
        self.val_cosine.update(pred, true)

    def on_validation_epoch_end(self) -> None:
        self.log("val/cosine", self.val_cosine.compute(), prog_bar=True)
        self.val_cosine.reset()

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        _, pred, true = self._step(batch, "test")
        self.test_cosine.update(pred, true)
        self.test_pred.update(pred)
        self.test_true.update(true)
        self.test_image.update(batch["image_index"].float())
        self.test_label.update(batch["label"].float())
        self.test_trial.update(torch.stack([batch[k].float() for k in
                                            ("subject", "session", "run", "trial")], 1))
        self.test_bold.update(batch["bold"].float())
        self.predicted_bold.update(self.decode(pred), batch["bold"])
        self.autoencoded_bold.update(self.decode(true), batch["bold"])

    def on_test_epoch_end(self) -> None:
        pred, true, images = (self.test_pred.compute(), self.test_true.compute(),
                              self.test_image.compute())
        out: dict[str, Any] = {"test/cosine": self.test_cosine.compute()}
        center = self.latent_center()
        out.update({f"test/{k}": v for k, v in identification_metrics(
            pred, true, images, self.n_way, center=center).items() if k != "n_defined"})
        bold = self.test_bold.compute()
        for name, ref in reference_predictions(true, images, self.test_label.compute(),
                                               self.test_trial.compute()).items():
            out.update({f"test/baseline/{name}/{k}": v for k, v in identification_metrics(
                ref, true, images, self.n_way, center=center).items()
                if not k.endswith("chance")})
            defined = ~torch.isnan(ref).any(dim=1)
            if not defined.any():
                continue
            recon = ReconstructionMetrics(self.volume_mask.n_voxels).to(bold.device)
            recon.update(self.decode(ref[defined]), bold[defined])
            out[f"test/baseline/{name}/predicted_bold/r2"] = recon.compute()["r2"]
        out.update({f"test/predicted_bold/{k}": v
                    for k, v in self.predicted_bold.compute().items()})
        out.update({f"test/autoencoded_bold/{k}": v
                    for k, v in self.autoencoded_bold.compute().items()})
        self.log_dict(out)
        for metric in (self.test_cosine, self.test_pred, self.test_true, self.predicted_bold,
                       self.autoencoded_bold, self.test_image, self.test_label, self.test_bold,
                       self.test_trial):
            metric.reset()

    def configure_optimizers(self) -> Any:
        return self.optimizer_factory(params=self.image_net.parameters())
