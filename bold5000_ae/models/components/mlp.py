"""An MLP encoder/decoder for voxel or ROI vectors (no spatial structure assumed).

Why: BOLD5000 release 1 ships ROI voxel vectors with no volume to convolve over, and an MLP on
the in-mask vector is the natural baseline for the conv nets. ``consumes = "vector"`` tells
the module to feed the masked vector as it is instead of scattering it to a volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bold5000_ae.models.components.base import AutoencoderNet, Encoder
from bold5000_ae.models.components.blocks import make_activation, make_norm


def _mlp(sizes: Sequence[int], norm: str, activation: str, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cin, cout in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(cin, cout, bias=norm == "none"), make_norm(norm, cout, 1),
                   make_activation(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPEncoder(Encoder):
    consumes = "vector"

    def __init__(self, n_voxels: int, hidden: Sequence[int] = (512, 256), latent_dim: int = 64,
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0,
                 heads: int = 1) -> None:
        super().__init__(latent_dim, heads)
        self.features = _mlp([n_voxels, *hidden], norm, activation, dropout)
        self.head = nn.Linear(hidden[-1] if hidden else n_voxels, latent_dim * heads)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(vectors))


class MLPDecoder(nn.Module):
    def __init__(self, n_voxels: int, hidden: Sequence[int] = (512, 256), latent_dim: int = 64,
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0,
                 output_activation: str = "identity") -> None:
        super().__init__()
        rev = list(hidden[::-1])
        self.features = _mlp([latent_dim, *rev], norm, activation, dropout)
        self.out = nn.Linear(rev[-1] if rev else latent_dim, n_voxels)
        self.output_activation = make_activation(output_activation)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.output_activation(self.out(self.features(latent)))


class MLPAutoencoderNet(AutoencoderNet):
    consumes = "vector"

    def __init__(self, n_voxels: int, hidden: Sequence[int] = (512, 256), latent_dim: int = 64,
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0,
                 output_activation: str = "identity", encoder_heads: int = 1) -> None:
        super().__init__(latent_dim)
        self.encoder = MLPEncoder(n_voxels, hidden, latent_dim, norm, activation, dropout,
                                  heads=encoder_heads)
        self.decoder = MLPDecoder(n_voxels, hidden, latent_dim, norm, activation, dropout,
                                  output_activation)
