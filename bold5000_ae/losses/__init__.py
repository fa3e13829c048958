"""Reconstruction losses, one file each, all with one convention.

Convention (stated once, used everywhere): inputs are masked voxel vectors (B, V), so every term
is computed inside the brain mask; a term is summed over voxels (or latent units) and averaged
over the batch, so a weight or a VAE's β means what it says. A loss returns a dict of named
terms whose ``loss`` entry is the total that is optimised.

Losses that need the volume (SSIM) define ``set_mask(mask)``; the module calls it on every
submodule of its loss, so weighted sums pass the mask down without knowing why.
"""

from __future__ import annotations

from torch import nn


def bind_mask(loss: nn.Module, mask) -> None:
    """Hand the brain mask to every part of ``loss`` that asks for it."""
    for module in loss.modules():
        if hasattr(module, "set_mask"):
            module.set_mask(mask)
