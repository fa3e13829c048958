"""Masked brain modelling as a training-input corruption (the ``voxel_masking`` regularizer).

MinD-Vis pretrains its fMRI encoder on BOLD5000 this way: the ROI voxel vector is cut into
patches of consecutive voxels, most of them (75%) are hidden, and the network reconstructs the
whole vector from the rest. Here the hidden patches are zeroed (the training mean after
normalisation) and the visible ones scaled by 1/(1 − ratio), as inverted dropout does, so a
linear path sees inputs of the same expected size in training and at test, when nothing is
hidden. The target stays the clean vector, as for every ``corrupt_input`` hook.
"""

from __future__ import annotations

import torch

from bold5000_ae.losses.regularizers import Regularizer


class VoxelMasking(Regularizer):
    """Hide a fraction ``ratio`` of the input's patches of ``patch`` consecutive voxels, drawn
    afresh for every sample of every training step."""

    def __init__(self, ratio: float = 0.75, patch: int = 16) -> None:
        super().__init__()
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"voxel_masking.ratio must be in [0, 1), got {ratio}")
        if int(patch) < 1:
            raise ValueError(f"voxel_masking.patch must be a whole number ≥ 1, got {patch}")
        self.ratio, self.patch = float(ratio), int(patch)

    def corrupt_input(self, bold: torch.Tensor) -> torch.Tensor:
        n_voxels = bold.shape[1]
        n_patches = -(-n_voxels // self.patch)
        visible = torch.rand(bold.shape[0], n_patches, device=bold.device) >= self.ratio
        visible = visible.repeat_interleave(self.patch, dim=1)[:, :n_voxels]
        return bold * visible.to(bold.dtype) / (1.0 - self.ratio)
