"""The written contract every network and every LightningModule here follows.

Why written down: the modules, the builder and the evaluation ask a network what it is through
these declared attributes, never by guessing from attribute or constructor-argument names:

- A network declares what it ``consumes``: ``"volume"`` (B, 1, X, Y, Z) on the data's grid, so
  the builder passes ``volume_shape``; ``"vector"`` (B, V) of in-mask voxels, so it passes
  ``n_voxels``; or ``"image"`` (B, 3, H, W) stimuli, so it passes nothing.
- An ``Encoder`` maps its input to ``latent_dim × heads`` numbers. One head is a code; two are a
  diagonal Gaussian posterior, which ``posterior`` returns by name (mean, log-variance) and
  ``code`` reduces to its mean, so an AE and a VAE encoder are used the same way downstream.
- An ``AutoencoderNet`` is an ``encoder`` and a ``decoder`` built from one set of
  hyperparameters (what ``model/net`` configs hold); the decoder returns what the encoder took.
- Every LightningModule has ``embed(bold)``: masked voxel vectors in, the deterministic latent
  the evaluation reads out (``BoldModule``).

The base classes own no parameters, so checkpoint keys are whatever the subclasses register.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, NamedTuple

import torch
from lightning.pytorch import LightningModule
from torch import nn

from bold5000_ae.utils.state_dict import check_state, fill_optional

Consumes = Literal["volume", "vector", "image"]
CONSUMES: tuple[str, ...] = ("volume", "vector", "image")


class Posterior(NamedTuple):
    """A diagonal Gaussian q(z|x), per unit: (B, latent_dim) each."""

    mean: torch.Tensor
    logvar: torch.Tensor


class Encoder(nn.Module):
    """Input → (B, latent_dim × heads). Subclasses set ``consumes`` and implement ``forward``."""

    consumes: ClassVar[str] = "volume"

    def __init__(self, latent_dim: int, heads: int = 1) -> None:
        super().__init__()
        if heads not in (1, 2):
            raise ValueError(f"an encoder has 1 head (a code) or 2 (mean, log-variance), "
                             f"got {heads}")
        self.latent_dim, self.heads = int(latent_dim), int(heads)

    def code(self, x: torch.Tensor) -> torch.Tensor:
        """The deterministic latent: the code, or the posterior mean."""
        return self(x)[:, :self.latent_dim]

    def posterior(self, x: torch.Tensor) -> Posterior:
        if self.heads != 2:
            raise ValueError("a VAE needs an encoder with two heads (model.net.encoder_heads=2)")
        mean, logvar = self(x).chunk(2, dim=1)
        return Posterior(mean=mean, logvar=logvar)


class AutoencoderNet(nn.Module):
    """An ``encoder`` and a ``decoder`` over the same kind of input (``consumes``)."""

    consumes: ClassVar[str] = "volume"
    encoder: Encoder
    decoder: nn.Module

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def consumes_of(net: Any) -> str:
    """What ``net`` (a class or an instance) declares it consumes, or a one-line error."""
    kind = getattr(net, "consumes", None)
    if kind not in CONSUMES:
        name = getattr(net, "__name__", type(net).__name__)
        raise TypeError(f"{name} must declare consumes = one of {CONSUMES} (subclass "
                        "bold5000_ae.models.components.base.AutoencoderNet or Encoder)")
    return str(kind)


class BoldModule(LightningModule):
    """A LightningModule of this package: ``embed`` for the evaluation, and checkpoints checked
    against the module's own tensors before Lightning copies them in (one line naming the first
    mismatch, instead of a page of ``load_state_dict`` errors), in the one load Lightning does."""

    def embed(self, bold: torch.Tensor) -> torch.Tensor:
        """(B, V) masked voxel vectors → (B, latent_dim) deterministic latent."""
        raise NotImplementedError

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = fill_optional(self, checkpoint.get("state_dict", {}))
        checkpoint["state_dict"] = state
        check_state(self, {k: v for k, v in state.items() if torch.is_tensor(v)},
                    checkpoint.get("_source", "checkpoint"))
