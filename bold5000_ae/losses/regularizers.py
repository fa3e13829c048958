"""Regularizers as small composable objects (the ``model/regularizer`` config group).

Why objects with hooks rather than flags on the module: each one touches a different point of a
step (the input, the latent, the loss, the gradients), and a run combines any of them. The
module calls every hook of every regularizer it was given; an unused hook is the identity.

Hooks: ``corrupt_input`` (training input only; the target stays clean, so input noise makes a
denoising AE), ``transform_latent`` (training only), ``penalty`` (a named term added to the loss,
under the package convention: summed over latents, averaged over the batch) and ``clip`` (the
gradient clipping the module applies before each optimizer step).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn


class Regularizer(nn.Module):
    """Identity on every hook; subclasses override the ones they need."""

    def corrupt_input(self, bold: torch.Tensor) -> torch.Tensor:
        return bold

    def transform_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return latent

    def penalty(self, latent: torch.Tensor, model: nn.Module) -> torch.Tensor | None:
        return None

    def clip(self) -> tuple[float, str] | None:
        return None


class WeightDecay(Regularizer):
    """``weight`` × Σ w² over weight matrices and kernels (not biases or norm scales).

    An explicit penalty, so it is logged and composes with any optimizer; for the decoupled
    kind set ``model.optimizer.weight_decay`` instead."""

    def __init__(self, weight: float = 1e-4) -> None:
        super().__init__()
        self.weight = weight

    def penalty(self, latent: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return self.weight * sum((p ** 2).sum() for p in model.parameters()
                                 if p.requires_grad and p.dim() > 1)


class LatentL1(Regularizer):
    """``weight`` × Σ_j |z_j|, batch mean: sparse codes."""

    def __init__(self, weight: float = 1e-3) -> None:
        super().__init__()
        self.weight = weight

    def penalty(self, latent: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return self.weight * latent.abs().sum(dim=1).mean()


class LatentL2(Regularizer):
    """``weight`` × Σ_j z_j², batch mean: small codes (a deterministic cousin of the VAE prior)."""

    def __init__(self, weight: float = 1e-3) -> None:
        super().__init__()
        self.weight = weight

    def penalty(self, latent: torch.Tensor, model: nn.Module) -> torch.Tensor:
        return self.weight * (latent ** 2).sum(dim=1).mean()


class KLSparsity(Regularizer):
    """``weight`` × Σ_j KL(ρ ‖ ρ̂_j): each unit's mean activation ρ̂_j = mean_batch σ(z_j) is
    pulled towards ``target`` ρ (the classic sparse-AE penalty; one term per batch, so it is
    already a batch-level quantity)."""

    def __init__(self, weight: float = 1e-2, target: float = 0.05) -> None:
        super().__init__()
        if not 0 < target < 1:
            raise ValueError(f"target activation must lie in (0, 1), got {target}")
        self.weight, self.target = weight, target

    def penalty(self, latent: torch.Tensor, model: nn.Module) -> torch.Tensor:
        rho_hat = torch.sigmoid(latent).mean(dim=0).clamp(1e-6, 1 - 1e-6)
        rho = torch.full_like(rho_hat, self.target)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return self.weight * kl.sum()


class Dropout(Regularizer):
    """Dropout on the input voxels (``where='input'``) or the latent code (``'latent'``)."""

    def __init__(self, p: float = 0.1, where: str = "latent") -> None:
        super().__init__()
        if where not in ("input", "latent"):
            raise ValueError(f"where must be 'input' or 'latent', got {where!r}")
        self.p, self.where = p, where

    def corrupt_input(self, bold: torch.Tensor) -> torch.Tensor:
        return F.dropout(bold, self.p, training=True) if self.where == "input" else bold

    def transform_latent(self, latent: torch.Tensor) -> torch.Tensor:
        return F.dropout(latent, self.p, training=True) if self.where == "latent" else latent


class InputNoise(Regularizer):
    """Gaussian noise of standard deviation ``std`` on the training input (denoising AE)."""

    def __init__(self, std: float = 0.5) -> None:
        super().__init__()
        self.std = std

    def corrupt_input(self, bold: torch.Tensor) -> torch.Tensor:
        return bold + self.std * torch.randn_like(bold)


class GradientClipping(Regularizer):
    """Clip gradients to ``value`` by ``algorithm`` ('norm' or 'value') before each step."""

    def __init__(self, value: float = 1.0, algorithm: str = "norm") -> None:
        super().__init__()
        if algorithm not in ("norm", "value"):
            raise ValueError(f"algorithm must be 'norm' or 'value', got {algorithm!r}")
        self.value, self.algorithm = value, algorithm

    def clip(self) -> tuple[float, str]:
        return self.value, self.algorithm


class Regularizers(nn.Module):
    """The composed set a module holds; hooks run in name order (deterministic)."""

    def __init__(self, items: Mapping[str, Regularizer] | None = None) -> None:
        super().__init__()
        self.items = nn.ModuleDict({k: items[k] for k in sorted(items or {})})

    def corrupt_input(self, bold: torch.Tensor) -> torch.Tensor:
        for reg in self.items.values():
            bold = reg.corrupt_input(bold)
        return bold

    def transform_latent(self, latent: torch.Tensor) -> torch.Tensor:
        for reg in self.items.values():
            latent = reg.transform_latent(latent)
        return latent

    def penalties(self, latent: torch.Tensor, model: nn.Module) -> dict[str, torch.Tensor]:
        out = {}
        for name, reg in self.items.items():
            value = reg.penalty(latent, model)
            if value is not None:
                out[f"reg/{name}"] = value
        return out

    def clip(self) -> tuple[float, str] | None:
        clips = [c for c in (reg.clip() for reg in self.items.values()) if c is not None]
        return min(clips) if clips else None
