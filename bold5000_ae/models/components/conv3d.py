"""3D convolutional encoder and decoder over whole BOLD volumes.

Each level halves the grid with a strided conv (odd sizes round up), so any grid works without
padding the data; the decoder retraces the exact sizes by upsampling to them, then convolving
(upsample + conv avoids the checkerboard artefacts of transposed convs).

Given the brain mask, the encoder adds a linear map of the in-mask voxels to its code and the
decoder a linear read-out to every voxel (``voxel_path.py`` says why: upsampling smooth channels
alone cannot produce voxel-specific detail).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bold5000_ae.models.components.base import AutoencoderNet, Encoder
from bold5000_ae.models.components.blocks import make_activation, make_norm
from bold5000_ae.models.components.voxel_path import VoxelPath, VoxelReadout, voxel_paths


def level_shapes(volume_shape: Sequence[int], depth: int) -> list[tuple[int, int, int]]:
    """Grid size at each level: level 0 is the input, level ``depth`` the bottleneck."""
    shapes = [tuple(int(n) for n in volume_shape)]
    for _ in range(depth):
        shapes.append(tuple((n - 1) // 2 + 1 for n in shapes[-1]))
    return shapes


class Conv3dEncoder(Encoder):
    """(B, 1, X, Y, Z) → (B, out_features). ``out_features`` is the latent size (an AE) or twice
    it (a VAE's mean and log-variance heads are split from it by the VAE)."""

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 convs_per_level: int = 1, in_channels: int = 1, heads: int = 1,
                 mask: np.ndarray | torch.Tensor | None = None) -> None:
        super().__init__(latent_dim, heads)
        self.volume_shape = tuple(volume_shape)
        layers: list[nn.Module] = []
        prev = in_channels
        for ch in channels:
            for k in range(convs_per_level):
                layers += [nn.Conv3d(prev if k == 0 else ch, ch, 3, stride=2 if k == 0 else 1,
                                     padding=1, bias=norm == "none"),
                           make_norm(norm, ch, 3), make_activation(activation)]
            prev = ch
        self.features = nn.Sequential(*layers)
        bottleneck = level_shapes(volume_shape, len(channels))[-1]
        self.head = nn.Linear(prev * bottleneck[0] * bottleneck[1] * bottleneck[2],
                              latent_dim * heads)
        # the first channel's in-mask voxels → code, beside the trunk; None without a mask
        self.voxel_path = None if mask is None else VoxelPath(mask, latent_dim * heads)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        code = self.head(self.features(volume).flatten(1))
        return code if self.voxel_path is None else code + self.voxel_path(volume)


class _UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, size: tuple[int, int, int], norm: str,
                 activation: str, convs: int = 1) -> None:
        super().__init__()
        self.size = size
        layers: list[nn.Module] = []
        for k in range(convs):
            layers += [nn.Conv3d(cin if k == 0 else cout, cout, 3, padding=1,
                                 bias=norm == "none"),
                       make_norm(norm, cout, 3), make_activation(activation)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=self.size, mode="trilinear", align_corners=False))


class Conv3dDecoder(nn.Module):
    """(B, latent_dim) → (B, 1, X, Y, Z), mirroring ``Conv3dEncoder`` with the same channels.

    The last level upsamples to the full grid and maps straight to the output channels: a full
    resolution hidden layer costs most of the compute for little gain at BOLD's smoothness.
    Given ``mask``, a linear read-out from the latent to each in-mask voxel is added to the
    output; ``upsampling=False`` keeps only that read-out (no conv trunk), which needs a mask."""

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", convs_per_level: int = 1,
                 out_channels: int = 1, mask: np.ndarray | torch.Tensor | None = None,
                 upsampling: bool = True) -> None:
        super().__init__()
        if mask is None and not upsampling:
            raise ValueError("a decoder without upsampling needs the voxel read-out "
                             "(voxel_path=both or decoder, or upsampling=true)")
        if mask is not None and out_channels != 1:
            raise ValueError("the voxel read-out writes one output channel")
        self.voxel_readout = None if mask is None else VoxelReadout(mask, latent_dim)
        self.upsampling = bool(upsampling)
        self.final_size = tuple(int(n) for n in volume_shape)
        self.output_activation = make_activation(output_activation)
        if not upsampling:
            return
        shapes = level_shapes(volume_shape, len(channels))
        self.bottleneck = (channels[-1], *shapes[-1])
        self.project = nn.Linear(latent_dim, int(torch.tensor(self.bottleneck).prod()))
        rev = list(channels[::-1])
        self.up = nn.Sequential(*[
            _UpBlock(cin, cout, shapes[-2 - i], norm, activation, convs_per_level)
            for i, (cin, cout) in enumerate(zip(rev[:-1], rev[1:]))])
        self.out = nn.Conv3d(rev[-1], out_channels, 3, padding=1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        out = None
        if self.upsampling:
            x = self.up(self.project(latent).view(-1, *self.bottleneck))
            x = F.interpolate(x, size=self.final_size, mode="trilinear", align_corners=False)
            out = self.out(x)
        if self.voxel_readout is not None:
            detail = self.voxel_readout(latent)
            out = detail if out is None else out + detail
        return self.output_activation(out)


class Conv3dAutoencoderNet(AutoencoderNet):
    """Encoder + decoder pair built from one set of hyperparameters (what ``model/net`` holds).

    ``voxel_path``: the linear voxel paths (the builder passes the brain ``mask``): ``both``
    (encoder and decoder), ``decoder`` (the read-out only), ``none``, or ``auto`` (both for an
    AE, the read-out only for a VAE: ``voxel_path.py``); ``upsampling``: the decoder's conv
    trunk (off: the voxel read-out alone)."""

    consumes = "volume"

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", convs_per_level: int = 1,
                 encoder_heads: int = 1, mask: np.ndarray | torch.Tensor | None = None,
                 voxel_path: str = "none", upsampling: bool = True) -> None:
        super().__init__(latent_dim)
        encoder_path, readout = voxel_paths(voxel_path, encoder_heads, mask)
        self.encoder = Conv3dEncoder(volume_shape, channels, latent_dim, norm, activation,
                                     convs_per_level, heads=encoder_heads,
                                     mask=mask if encoder_path else None)
        self.decoder = Conv3dDecoder(volume_shape, channels, latent_dim, norm, activation,
                                     output_activation, convs_per_level,
                                     mask=mask if readout else None,
                                     upsampling=upsampling)
