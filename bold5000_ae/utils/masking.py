"""Between masked voxel vectors (how data is stored and served) and volumes (what convs see).

Scattering on the device keeps host memory and transfers at the in-mask size (about half the
grid for real brains) while the network still works on the full grid. The scatter and gather
use the mask's flat indices (a non-persistent buffer, so checkpoints are unchanged): indexing
with the boolean mask itself runs ``nonzero`` every call, a host synchronisation per step on CUDA.
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
        self.register_buffer("index", self.mask.flatten().nonzero().squeeze(1), persistent=False)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.index = self.mask.flatten().nonzero().squeeze(1)  # follow a loaded mask

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.mask.shape)

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def to_volume(self, vectors: torch.Tensor) -> torch.Tensor:
        """(B, V) → (B, 1, X, Y, Z), zeros outside the mask."""
        flat = vectors.new_zeros((vectors.shape[0], self.mask.numel()))
        flat.index_copy_(1, self.index, vectors)  # in place: no second full-grid buffer
        return flat.view(vectors.shape[0], 1, *self.mask.shape)

    def to_vector(self, volumes: torch.Tensor) -> torch.Tensor:
        """(B, 1, X, Y, Z) → (B, V)."""
        return volumes[:, 0].reshape(volumes.shape[0], -1).index_select(1, self.index)
