"""Phase 3: living vs non-living from a pretrained encoder plus a classification head.

"Restore weights only, fresh trainer": the encoder's weights come from an AE or VAE checkpoint
(its ``encoder_prefix`` entries, ``net.encoder.*``); the training layer copies them in
(``training/pipeline.py``), the module never reads files, and the decoder is not kept.
``pretrained`` records where they came from (the evaluation reads out that un-fine-tuned
encoder). ``finetune`` picks what trains: ``frozen`` (the head only; the encoder stays in eval
mode so its batch-norm statistics do not drift), ``partial`` (the head and the last
``trainable_layers`` parameterised layers of the encoder) or ``full``. Class imbalance: with
``class_weight: balanced`` the positive class is weighted by n_negative / n_positive of the
training split (BCE's ``pos_weight``), which equalises the two classes' total weight. Under DDP
the counts are those of the whole training split (the datamodule's full index, or every rank's
counts summed), never one rank's shard, so every rank and a single-process run use one weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import BinaryAUROC, MulticlassAccuracy

from bold5000_ae.models.components.base import BoldModule
from bold5000_ae.models.components.masked import (
    FrozenLayersMixin,
    MaskedNet,
    parameterised_layers,
)
from bold5000_ae.utils.masking import VolumeMask

FINETUNE_MODES = ("frozen", "partial", "full")


def training_label_counts(trainer: Any) -> tuple[int, int]:
    """(n_negative, n_positive) of the training split over all ranks.

    From the datamodule's full split index when it offers one (``split_labels``); otherwise
    this rank's training rows, counted and summed over the ranks."""
    datamodule = trainer.datamodule
    if hasattr(datamodule, "split_labels"):
        labels = np.asarray(datamodule.split_labels("train"))
        return int((labels == 0).sum()), int((labels == 1).sum())
    labels = datamodule.datasets["train"].meta["label"]
    counts = torch.stack([(labels == 0).sum(), (labels == 1).sum()]).double()
    if getattr(trainer, "world_size", 1) > 1:
        counts = trainer.strategy.reduce(counts, reduce_op="sum")
    return int(counts[0]), int(counts[1])


class TransferClassifier(FrozenLayersMixin, BoldModule):
    def __init__(self, net: nn.Module, mask: np.ndarray | torch.Tensor,
                 optimizer: Callable[..., torch.optim.Optimizer],
                 pretrained: str | None = None, finetune: str = "frozen",
                 trainable_layers: int = 1, head_hidden: int = 0, dropout: float = 0.0,
                 class_weight: str | None = "balanced",
                 encoder_prefix: str = "net.encoder.") -> None:
        super().__init__()
        if finetune not in FINETUNE_MODES:
            raise ValueError(f"finetune must be one of {FINETUNE_MODES}, got {finetune!r}")
        self.encoder = net.encoder  # the decoder is not kept
        self.latent_dim = int(net.latent_dim)
        self.volume_mask = VolumeMask(mask)
        self.bold = MaskedNet(self.encoder, self.volume_mask)
        self.pretrained, self.encoder_prefix = pretrained, encoder_prefix
        self.finetune, self.trainable_layers = finetune, trainable_layers
        layers = parameterised_layers(self.encoder)
        keep = {"frozen": 0, "partial": trainable_layers, "full": len(layers)}[finetune]
        self.freeze(layers[:len(layers) - keep])
        # The latent has no fixed scale: batch norm (no affine) standardises it for the head.
        head: list[nn.Module] = [nn.BatchNorm1d(self.latent_dim, affine=False),
                                 nn.Dropout(dropout)]
        if head_hidden:
            head += [nn.Linear(self.latent_dim, head_hidden), nn.GELU(), nn.Dropout(dropout)]
        head.append(nn.Linear(head_hidden or self.latent_dim, 1))
        self.head = nn.Sequential(*head)
        self.class_weight, self.optimizer_factory = class_weight, optimizer
        self.register_buffer("pos_weight", torch.ones(()))
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": metric for stage in ("val", "test") for name, metric in (
                ("auc", BinaryAUROC()), ("balanced_accuracy",
                                         MulticlassAccuracy(num_classes=2, average="macro")))})

    def pretrained_parts(self) -> dict[str, nn.Module]:
        """Checkpoint prefix → the submodule that starts from those weights."""
        return {self.encoder_prefix: self.encoder}

    def embed(self, bold: torch.Tensor) -> torch.Tensor:
        """The latent code (the mean, when the encoder has a VAE's two heads)."""
        return self.bold.code(bold)

    def forward(self, bold: torch.Tensor) -> torch.Tensor:
        """Logit of 'living'."""
        return self.head(self.embed(bold))[:, 0]

    def on_fit_start(self) -> None:
        if self.class_weight == "balanced":
            n_neg, n_pos = training_label_counts(self.trainer)
            self.pos_weight.fill_(n_neg / max(n_pos, 1))

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        keep = batch["label"] >= 0
        logits, labels = self(batch["bold"][keep]), batch["label"][keep]
        loss = F.binary_cross_entropy_with_logits(logits, labels.float(),
                                                  pos_weight=self.pos_weight)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(labels),
                 prog_bar=stage != "train")
        if stage != "train" and len(labels):
            self.metrics[f"{stage}_auc"].update(logits, labels)
            self.metrics[f"{stage}_balanced_accuracy"].update((logits > 0).long(), labels)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_metrics(self, stage: str) -> None:
        for name in ("auc", "balanced_accuracy"):
            metric = self.metrics[f"{stage}_{name}"]
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name == "auc")
            metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def configure_optimizers(self) -> Any:
        return self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
