"""The 2D variant: a volume's slices along one axis become image channels.

Why keep it: 2D convs are several times cheaper than 3D ones, a common choice for fMRI
autoencoders; the price is that the network sees no locality along the slice axis (each slice is a
separate input channel to the first layer). Same interface as the 3D family: volumes (B, 1, X, Y,
Z) in and out, strided downsampling, upsample + conv on the way back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bold5000_ae.models.components.base import AutoencoderNet, Encoder
from bold5000_ae.models.components.blocks import make_activation, make_norm
from bold5000_ae.models.components.conv3d import level_shapes
from bold5000_ae.models.components.voxel_path import VoxelPath, VoxelReadout, voxel_paths


def _to_slices(volume: torch.Tensor, axis: int) -> torch.Tensor:
    """(B, 1, X, Y, Z) → (B, S, H, W) with the ``axis`` (0, 1 or 2) slices as channels."""
    return volume[:, 0].movedim(1 + axis, 1)


def _from_slices(slices: torch.Tensor, axis: int) -> torch.Tensor:
    return slices.movedim(1, 1 + axis).unsqueeze(1)


def _plane(volume_shape: Sequence[int], axis: int) -> tuple[int, tuple[int, int]]:
    shape = [int(n) for n in volume_shape]
    n_slices = shape.pop(axis)
    return n_slices, (shape[0], shape[1])


class Conv2dEncoder(Encoder):
    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (64, 128, 256),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 slice_axis: int = 2, heads: int = 1,
                 mask: np.ndarray | torch.Tensor | None = None) -> None:
        super().__init__(latent_dim, heads)
        self.slice_axis = slice_axis
        prev, plane = _plane(volume_shape, slice_axis)
        layers: list[nn.Module] = []
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1, bias=norm == "none"),
                       make_norm(norm, ch, 2), make_activation(activation)]
            prev = ch
        self.features = nn.Sequential(*layers)
        bottleneck = level_shapes(plane, len(channels))[-1]
        self.head = nn.Linear(prev * bottleneck[0] * bottleneck[1], latent_dim * heads)
        self.voxel_path = None if mask is None else VoxelPath(mask, latent_dim * heads)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        code = self.head(self.features(_to_slices(volume, self.slice_axis)).flatten(1))
        return code if self.voxel_path is None else code + self.voxel_path(volume)


class Conv2dDecoder(nn.Module):
    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (64, 128, 256),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", slice_axis: int = 2,
                 mask: np.ndarray | torch.Tensor | None = None) -> None:
        super().__init__()
        self.slice_axis = slice_axis
        self.voxel_readout = None if mask is None else VoxelReadout(mask, latent_dim)
        n_slices, plane = _plane(volume_shape, slice_axis)
        self.shapes = level_shapes(plane, len(channels))
        self.bottleneck = (channels[-1], *self.shapes[-1])
        self.project = nn.Linear(latent_dim, channels[-1] * self.shapes[-1][0]
                                 * self.shapes[-1][1])
        rev = list(channels[::-1])
        self.convs = nn.ModuleList([
            nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none"),
                          make_norm(norm, cout, 2), make_activation(activation))
            for cin, cout in zip(rev[:-1], rev[1:])])
        self.out = nn.Conv2d(rev[-1], n_slices, 3, padding=1)
        self.output_activation = make_activation(output_activation)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.project(latent).view(-1, *self.bottleneck)
        for i, conv in enumerate(self.convs):
            x = conv(F.interpolate(x, size=self.shapes[-2 - i], mode="bilinear",
                                   align_corners=False))
        x = F.interpolate(x, size=self.shapes[0], mode="bilinear", align_corners=False)
        out = _from_slices(self.out(x), self.slice_axis)
        if self.voxel_readout is not None:
            out = out + self.voxel_readout(latent)
        return self.output_activation(out)


class Conv2dAutoencoderNet(AutoencoderNet):
    """``voxel_path``: the linear voxel paths, as in ``Conv3dAutoencoderNet``."""

    consumes = "volume"

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (64, 128, 256),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", slice_axis: int = 2,
                 encoder_heads: int = 1, mask: np.ndarray | torch.Tensor | None = None,
                 voxel_path: str = "none") -> None:
        super().__init__(latent_dim)
        encoder_path, readout = voxel_paths(voxel_path, encoder_heads, mask)
        self.encoder = Conv2dEncoder(volume_shape, channels, latent_dim, norm, activation,
                                     slice_axis, heads=encoder_heads,
                                     mask=mask if encoder_path else None)
        self.decoder = Conv2dDecoder(volume_shape, channels, latent_dim, norm, activation,
                                     output_activation, slice_axis,
                                     mask=mask if readout else None)
