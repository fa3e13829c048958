"""Stop a run whose loss becomes NaN or Inf, naming the step and the last good checkpoint.

Checking ``loss.isfinite()`` on the host every step would synchronise the GPU each step. Instead
the first bad step is recorded in a device tensor (no sync) and read every ``check_every_n_steps``
steps and always before validation and before an epoch ends, i.e. before ModelCheckpoint (which
Lightning always runs last) could save diverged weights.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from bold5000_ae.utils.errors import TrainingDiverged


class FiniteLossGuard(Callback):
    def __init__(self, check_every_n_steps: int = 50) -> None:
        self.check_every_n_steps = max(1, int(check_every_n_steps))
        self._first_bad: torch.Tensor | None = None

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        step = trainer.global_step
        if self._first_bad is None or self._first_bad.device != loss.device:
            self._first_bad = torch.full((), -1, dtype=torch.long, device=loss.device)
        bad_now = ~torch.isfinite(loss.detach()).all()
        self._first_bad = torch.where(bad_now & (self._first_bad < 0),
                                      torch.as_tensor(step, device=loss.device), self._first_bad)
        if step % self.check_every_n_steps == 0:
            self._check(trainer)

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.sanity_checking:
            self._check(trainer)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check(trainer)

    def _check(self, trainer: Trainer) -> None:
        if self._first_bad is None:
            return
        first_bad = int(self._first_bad)  # the only host sync, every n steps
        if first_bad < 0:
            return
        last = getattr(trainer.checkpoint_callback, "last_model_path", "") or \
            getattr(trainer.checkpoint_callback, "best_model_path", "") or "none saved yet"
        raise TrainingDiverged(f"training loss became NaN or Inf at step {first_bad} (epoch "
                               f"{trainer.current_epoch}); stopped. Last good checkpoint: {last}")

    def state_dict(self) -> dict[str, Any]:
        return {"check_every_n_steps": self.check_every_n_steps}
