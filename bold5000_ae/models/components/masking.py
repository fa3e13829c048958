"""Between masked voxel vectors (how data is stored and served) and volumes (what convs see).

Scattering on the device keeps host memory and transfers at the in-mask size (about half the
grid for real brains) while the network still works on the full grid.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class VolumeMask(nn.Module):
    """Holds the brain mask as a buffer; ``to_volume`` and ``to_vector`` are exact inverses
    inside the mask."""

    def __init__(self, mask: np.ndarray | torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mask", torch.as_tensor(np.asarray(mask), dtype=torch.bool))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.mask.shape)

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def to_volume(self, vectors: torch.Tensor) -> torch.Tensor:
        """(B, V) → (B, 1, X, Y, Z), zeros outside the mask."""
        volume = vectors.new_zeros((vectors.shape[0], *self.mask.shape))
        volume[:, self.mask] = vectors
        return volume.unsqueeze(1)

    def to_vector(self, volumes: torch.Tensor) -> torch.Tensor:
        """(B, 1, X, Y, Z) → (B, V)."""
        return volumes[:, 0][:, self.mask]
