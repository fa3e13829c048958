"""An MLP encoder/decoder for voxel or ROI vectors (no spatial structure assumed).

Why: BOLD5000 release 1 ships ROI voxel vectors with no volume to convolve over, and an MLP on
the in-mask vector is the natural baseline for the conv nets. ``consumes = "vector"`` tells
the module to feed the masked vector as it is instead of scattering it to a volume.

``voxel_path`` (``auto``, ``both``, ``decoder`` or ``none``: see ``voxel_path.py``): a linear
map from the voxels to the code beside the hidden layers, and one from the code back to the
voxels, as in the conv nets: the hidden layers then learn what PCA's linear map cannot,
instead of having to relearn it through BatchNorm and GELU (``docs/models.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bold5000_ae.models.components.base import AutoencoderNet, Encoder
from bold5000_ae.models.components.blocks import make_activation, make_norm, zero_linear
from bold5000_ae.models.components.voxel_path import voxel_paths


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
                 heads: int = 1, voxel_path: bool = False) -> None:
        super().__init__(latent_dim, heads)
        self.features = _mlp([n_voxels, *hidden], norm, activation, dropout)
        self.head = nn.Linear(hidden[-1] if hidden else n_voxels, latent_dim * heads)
        # with no hidden layer the head is already the linear map
        self.voxel_path = (zero_linear(n_voxels, latent_dim * heads, bias=False)
                           if voxel_path and hidden else None)

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        code = self.head(self.features(vectors))
        return code if self.voxel_path is None else code + self.voxel_path(vectors)


class MLPDecoder(nn.Module):
    def __init__(self, n_voxels: int, hidden: Sequence[int] = (512, 256), latent_dim: int = 64,
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0,
                 output_activation: str = "identity", voxel_path: bool = False) -> None:
        super().__init__()
        rev = list(hidden[::-1])
        self.features = _mlp([latent_dim, *rev], norm, activation, dropout)
        self.out = nn.Linear(rev[-1] if rev else latent_dim, n_voxels)
        self.voxel_readout = (nn.Linear(latent_dim, n_voxels, bias=False)
                              if voxel_path and hidden else None)
        self.output_activation = make_activation(output_activation)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        out = self.out(self.features(latent))
        if self.voxel_readout is not None:
            out = out + self.voxel_readout(latent)
        return self.output_activation(out)


class MLPAutoencoderNet(AutoencoderNet):
    consumes = "vector"

    def __init__(self, n_voxels: int, hidden: Sequence[int] = (512, 256), latent_dim: int = 64,
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0,
                 output_activation: str = "identity", encoder_heads: int = 1,
                 voxel_path: str = "none") -> None:
        super().__init__(latent_dim)
        encoder_path, readout = voxel_paths(voxel_path, encoder_heads, volume_net=False)
        self.encoder = MLPEncoder(n_voxels, hidden, latent_dim, norm, activation, dropout,
                                  heads=encoder_heads, voxel_path=encoder_path)
        self.decoder = MLPDecoder(n_voxels, hidden, latent_dim, norm, activation, dropout,
                                  output_activation, voxel_path=readout)
