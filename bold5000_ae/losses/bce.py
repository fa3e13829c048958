"""Binary cross-entropy with logits against the data scaled into [0, 1].

Why the logistic scaling: BOLD has no natural range, so the target is mapped into (0, 1) by
``sigmoid(x / temperature)``, a fixed monotone map, and the network's output is read as the
logit ``pred / temperature``. The loss is then minimised exactly at ``pred == target``, so the
reconstruction stays in data units and is scored on the same metrics as every other loss (a
per-sample min–max scaling would need the target's range to undo it). The minimum is the
target's entropy, not zero; compare losses on shared metrics, never on their values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedBCEWithLogits(nn.Module):
    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        scaled = torch.sigmoid(target / self.temperature)
        per_voxel = F.binary_cross_entropy_with_logits(pred / self.temperature, scaled,
                                                       reduction="none")
        loss = per_voxel.sum(dim=1).mean()
        return {"loss": loss, "bce": loss}
