"""3D SSIM (torchmetrics) as a loss: Σ over in-mask voxels of (1 − local SSIM), batch mean.

SSIM compares local means, contrasts and structure in a Gaussian window, so it rewards getting
the spatial pattern right where MSE only sees voxels one at a time. The SSIM map is computed on
the scattered volumes and only in-mask voxels are summed (outside the mask both volumes are zero
and would count as perfect). ``data_range``: the spread of the data in its units (z-scored BOLD
spans about ±4, hence 8); ``sigma``: the Gaussian window's width in voxels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from bold5000_ae.utils.masking import VolumeMask


def ssim_map(pred_volume: torch.Tensor, target_volume: torch.Tensor, data_range: float,
             sigma: float) -> torch.Tensor:
    """Local SSIM of (B, 1, X, Y, Z) volumes, same shape (torchmetrics' full image).

    The Gaussian window spans ±3.5σ; ``kernel_size`` is passed to match it because torchmetrics
    pads the third axis by ``kernel_size``, not by the Gaussian's size."""
    size = int(3.5 * sigma + 0.5) * 2 + 1
    _, full = structural_similarity_index_measure(
        pred_volume.float(), target_volume.float(), data_range=data_range,
        kernel_size=size, sigma=sigma, return_full_image=True, reduction="none")
    if full.shape != pred_volume.shape:
        raise ValueError(f"SSIM map {tuple(full.shape)} for volumes {tuple(pred_volume.shape)}; "
                         f"sigma={sigma} needs a grid larger than {size} voxels per axis")
    return full


class MaskedSSIM3d(nn.Module):
    def __init__(self, data_range: float = 8.0, sigma: float = 1.0,
                 mask: np.ndarray | torch.Tensor | None = None) -> None:
        super().__init__()
        self.data_range, self.sigma = data_range, sigma
        self.volume_mask: VolumeMask | None = None
        if mask is not None:
            self.set_mask(mask)

    def set_mask(self, mask: np.ndarray | torch.Tensor) -> None:
        self.volume_mask = VolumeMask(mask)

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.volume_mask is None:
            raise RuntimeError("MaskedSSIM3d needs the brain mask (set_mask) before use")
        vm = self.volume_mask.to(pred.device)
        full = ssim_map(vm.to_volume(pred), vm.to_volume(target), self.data_range, self.sigma)
        loss = (1 - vm.to_vector(full)).sum(dim=1).mean()
        return {"loss": loss, "ssim": loss}
