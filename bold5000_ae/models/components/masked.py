"""Masked voxel vectors in and out of a network, whatever it consumes; and frozen layers.

Data is stored and served as in-mask voxel vectors (B, V). ``MaskedNet`` puts them into the form
the encoder declares (``consumes``: scattered onto the grid for a "volume" net, as they are for
a "vector" net) and takes a decoder's output back to vectors, so the LightningModules never
switch on the kind of network themselves.

Why a plain object and not an ``nn.Module``: the encoder, decoder and mask stay registered where
the LightningModule put them (``net.encoder.*``, ``encoder.*``, ``bold_net.*``,
``volume_mask.mask``), so checkpoint keys are the same as before this wrapper existed and old
checkpoints load. It holds references; device moves and ``compile`` act on the modules in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

import torch
from torch import nn

from bold5000_ae.models.components.base import Encoder, Posterior, consumes_of
from bold5000_ae.utils.masking import VolumeMask


class MaskedNet:
    """``encoder`` (and optionally ``decoder``) seen through ``volume_mask``."""

    def __init__(self, encoder: Encoder, volume_mask: VolumeMask,
                 decoder: nn.Module | None = None) -> None:
        self.encoder, self.decoder, self.volume_mask = encoder, decoder, volume_mask
        self.consumes = consumes_of(encoder)
        if self.consumes == "image":
            raise TypeError(f"{type(encoder).__name__} consumes images, not BOLD")

    def net_input(self, bold: torch.Tensor) -> torch.Tensor:
        return bold if self.consumes == "vector" else self.volume_mask.to_volume(bold)

    def encode(self, bold: torch.Tensor) -> torch.Tensor:
        """The encoder's raw output, (B, latent_dim × heads)."""
        return self.encoder(self.net_input(bold))

    def code(self, bold: torch.Tensor) -> torch.Tensor:
        """The deterministic latent (the posterior mean for a two-headed encoder)."""
        return self.encoder.code(self.net_input(bold))

    def posterior(self, bold: torch.Tensor) -> Posterior:
        return self.encoder.posterior(self.net_input(bold))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) → (B, V) masked voxel vectors."""
        if self.decoder is None:
            raise TypeError("this network was kept without its decoder")
        out = self.decoder(latent)
        return out if self.consumes == "vector" else self.volume_mask.to_vector(out)


def parameterised_layers(module: nn.Module) -> list[nn.Module]:
    """Leaf-most modules that own parameters, in registration (forward) order."""
    return [m for m in module.modules() if any(True for _ in m.parameters(recurse=False))]


class FrozenLayersMixin:
    """For a LightningModule that trains on top of frozen layers: they get no gradient and stay
    in eval mode, so batch-norm statistics and dropout stay those of the pretrained network.

    Put it before ``LightningModule`` in the bases; call ``freeze(layers)`` in ``__init__``."""

    def freeze(self, layers: Iterable[nn.Module]) -> None:
        self._frozen_layers = list(layers)
        for layer in self._frozen_layers:
            layer.requires_grad_(False)

    @property
    def frozen_layers(self) -> list[nn.Module]:
        return getattr(self, "_frozen_layers", [])

    def train(self, mode: bool = True) -> Self:
        """``nn.Module.train``, then the frozen layers back to eval mode."""
        super().train(mode)  # type: ignore[misc]
        for layer in self.frozen_layers:
            layer.eval()
        return self

    def on_train_batch_start(self, batch: object, batch_idx: int) -> None:
        # Lightning restores each submodule's mode itself after validation, bypassing train()
        for layer in self.frozen_layers:
            layer.eval()
