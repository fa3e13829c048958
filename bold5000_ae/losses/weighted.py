"""A weighted sum of losses: ``total = Σ_k weight_k · term_k``.

Each part keeps its own named terms in the output (prefixed by its name), so a combined run
still logs every ingredient separately; the weights multiply terms that all follow the package
convention, so they mean what they say.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class WeightedSum(nn.Module):
    def __init__(self, losses: Mapping[str, nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        if set(losses) != set(weights):
            raise ValueError(f"losses {sorted(losses)} and weights {sorted(weights)} differ")
        self.parts = nn.ModuleDict(dict(losses))
        self.weights = {k: float(v) for k, v in weights.items()}

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        total = pred.new_zeros(())
        for name, part in self.parts.items():
            terms = part(pred, target)
            total = total + self.weights[name] * terms["loss"]
            out.update({f"{name}/{k}": v for k, v in terms.items()})
        out["loss"] = total
        return out
