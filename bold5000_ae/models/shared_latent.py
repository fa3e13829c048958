"""A shared latent space across subjects: per-subject linear adapters around one shared network.

MindEye2's idea, for autoencoders: every subject's voxels (own mask, own count) enter through
that subject's linear adapter into a common width; one shared encoder/decoder (any vector
``AutoencoderNet``, e.g. the MLP) maps that width to the latent and back; the subject's output
adapter maps the result back to its voxels. Trained with the reconstruction loss on batches of
one subject each (``data/multi_subject.py``).

A new subject is added with ``adapt_to(subject, n_voxels)``: fresh adapters for it, every other
parameter frozen, and the shared network kept in eval mode during training (so BatchNorm
statistics and dropout do not move either), so only the new subject's two linear maps are
fitted. ``experiments/few_shot/`` measures what that buys on 1, 2 and 4 sessions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from bold5000_ae.models.components.base import BoldModule
from bold5000_ae.models.components.subject_adapters import SubjectAdapters
from bold5000_ae.models.schedules import optimizer_and_schedule


class SharedLatentModule(BoldModule):
    """``core(n_voxels=width)`` builds the shared network (a partial from the config);
    ``subject_voxels`` (subject → voxel count) comes from the data."""

    def __init__(self, core: Callable[..., nn.Module], subject_voxels: Mapping[int, int],
                 loss: nn.Module, optimizer: Callable[..., torch.optim.Optimizer],
                 width: int = 256, scheduler: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.core = core(n_voxels=int(width))
        self.adapters = SubjectAdapters(subject_voxels, width)
        self.loss_fn = loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.adapting: int | None = None  # the subject being added; None: train everything
        self._sums: dict[int, list[float]] = {}  # subject -> [squared error, squared target]

    def embed(self, bold: torch.Tensor, subject: int) -> torch.Tensor:  # type: ignore[override]
        """(B, V_s) of subject ``subject`` → (B, latent_dim), the shared latent."""
        return self.core.encoder.code(self.adapters.encode(bold, subject))

    def decode(self, latent: torch.Tensor, subject: int) -> torch.Tensor:
        return self.adapters.decode(self.core.decoder(latent), subject)

    def forward(self, bold: torch.Tensor, subject: int) -> torch.Tensor:
        return self.decode(self.embed(bold, subject), subject)

    def adapt_to(self, subject: int, n_voxels: int) -> None:
        """Add fresh adapters for ``subject`` and make them the only trainable parameters."""
        self.adapters.add_subject(subject, n_voxels)
        for p in self.parameters():
            p.requires_grad_(False)
        for p in self.adapters.parameters_of(subject):
            p.requires_grad_(True)
        self.adapting = int(subject)

    def train(self, mode: bool = True) -> SharedLatentModule:
        super().train(mode)
        if self.adapting is not None:  # frozen means frozen: no BatchNorm statistics either
            self.core.eval()
        return self

    @staticmethod
    def _subject(batch: dict[str, torch.Tensor]) -> int:
        subject = batch["subject"]
        if not bool((subject == subject[0]).all()):
            raise ValueError("a batch must hold one subject (data/multi_subject.py serves so)")
        return int(subject[0])

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        subject = self._subject(batch)
        target = batch["bold"]
        recon = self(target, subject)
        terms = self.loss_fn(recon, target)
        self.log_dict({f"{stage}/{k}": v for k, v in terms.items()}, on_step=False,
                      on_epoch=True, batch_size=len(target), prog_bar=stage != "train")
        if stage != "train":
            sums = self._sums.setdefault(subject, [0.0, 0.0])
            sums[0] += float(((recon - target) ** 2).sum())
            sums[1] += float((target ** 2).sum())  # the training mean is 0 after normalising
        return terms["loss"]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "test")

    def _log_r2(self, stage: str) -> None:
        """R² against the training mean, per subject and pooled over subjects."""
        if not self._sums:
            return
        out = {f"{stage}/r2_subject_{s}": 1.0 - e / max(t, 1e-12)
               for s, (e, t) in self._sums.items()}
        err, tot = (sum(v[i] for v in self._sums.values()) for i in (0, 1))
        out[f"{stage}/r2"] = 1.0 - err / max(tot, 1e-12)
        self.log_dict(out)
        self._sums = {}

    def on_validation_epoch_end(self) -> None:
        self._log_r2("val")

    def on_test_epoch_end(self) -> None:
        self._log_r2("test")

    def configure_optimizers(self) -> Any:
        """The optimizer over the trainable parameters (the new adapters when adapting), and the
        schedule as ``AutoencoderModule`` steps it (``schedules.py``)."""
        return optimizer_and_schedule(self.optimizer_factory, self.scheduler_factory,
                                      [p for p in self.parameters() if p.requires_grad],
                                      self.trainer)
