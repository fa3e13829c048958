"""Linear paths between a volume's in-mask voxels and the latent, beside a conv trunk.

Why: per-voxel z-scored BOLD in a scattered ROI mask is not spatially smooth (neighbouring
in-mask voxels of the built-in data's noise-free signal correlate at a median r of 0.16), and a
decoder that ends in upsampling a few smooth channels cannot produce voxel-specific detail:
without these paths the conv AE fitted its own training rows to R² 0.05 where PCA-64 reaches
0.42 (``docs/models.md``). ``VoxelPath`` adds a linear map of the voxels to an encoder's output,
``VoxelReadout`` a linear read-out from the latent to every voxel to a decoder's; the conv trunks
then learn what a linear map cannot.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bold5000_ae.models.components.blocks import zero_linear
from bold5000_ae.utils.masking import VolumeMask

# where a net adds them: both (encoder and decoder), decoder (the read-out only), none, or
# auto: both for a one-headed encoder (an AE), decoder for a two-headed one (a VAE: a posterior
# fed by a linear map of thousands of voxels did not fall to the prior even at β = 1000)
VOXEL_PATHS = ("auto", "both", "decoder", "none")


def voxel_paths(where: str, heads: int, mask: np.ndarray | torch.Tensor | None = None,
                volume_net: bool = True) -> tuple[bool, bool]:
    """(encoder path, decoder read-out) for a ``voxel_path`` choice; a volume net needs the mask
    for either."""
    if where not in VOXEL_PATHS:
        raise ValueError(f"unknown voxel_path {where!r}; valid: {', '.join(VOXEL_PATHS)}")
    if where == "auto":
        where = "both" if heads == 1 else "decoder"
    if volume_net and where != "none" and mask is None:
        raise ValueError("voxel_path needs the brain mask (the builder passes it)")
    return where == "both", where != "none"


class VoxelPath(nn.Module):
    """(B, 1, X, Y, Z) → (B, out_features): a linear map of the in-mask voxels, starting at
    zero (``zero_linear`` says why)."""

    def __init__(self, mask: np.ndarray | torch.Tensor, out_features: int) -> None:
        super().__init__()
        self.voxels = VolumeMask(mask)
        self.linear = zero_linear(self.voxels.n_voxels, out_features)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.linear(self.voxels.to_vector(volume))


class VoxelReadout(nn.Module):
    """(B, latent_dim) → (B, 1, X, Y, Z): a linear read-out to every in-mask voxel, zero
    outside the mask."""

    def __init__(self, mask: np.ndarray | torch.Tensor, latent_dim: int) -> None:
        super().__init__()
        self.voxels = VolumeMask(mask)
        self.linear = nn.Linear(latent_dim, self.voxels.n_voxels)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.voxels.to_volume(self.linear(latent))
