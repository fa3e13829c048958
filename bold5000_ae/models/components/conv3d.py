"""3D convolutional encoder and decoder over whole BOLD volumes.

Each level halves the grid with a strided conv (odd sizes round up), so any grid works without
padding the data; the decoder retraces the exact sizes by upsampling to them, then convolving
(upsample + conv avoids the checkerboard artefacts of transposed convs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bold5000_ae.models.components.base import AutoencoderNet, Encoder
from bold5000_ae.models.components.blocks import make_activation, make_norm


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
                 convs_per_level: int = 1, in_channels: int = 1, heads: int = 1) -> None:
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

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(volume).flatten(1))


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
    resolution hidden layer costs most of the compute for little gain at BOLD's smoothness."""

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", convs_per_level: int = 1,
                 out_channels: int = 1) -> None:
        super().__init__()
        shapes = level_shapes(volume_shape, len(channels))
        self.bottleneck = (channels[-1], *shapes[-1])
        self.project = nn.Linear(latent_dim, int(torch.tensor(self.bottleneck).prod()))
        rev = list(channels[::-1])
        self.up = nn.Sequential(*[
            _UpBlock(cin, cout, shapes[-2 - i], norm, activation, convs_per_level)
            for i, (cin, cout) in enumerate(zip(rev[:-1], rev[1:]))])
        self.final_size = shapes[0]
        self.out = nn.Conv3d(rev[-1], out_channels, 3, padding=1)
        self.output_activation = make_activation(output_activation)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = self.up(self.project(latent).view(-1, *self.bottleneck))
        x = F.interpolate(x, size=self.final_size, mode="trilinear", align_corners=False)
        return self.output_activation(self.out(x))


class Conv3dAutoencoderNet(AutoencoderNet):
    """Encoder + decoder pair built from one set of hyperparameters (what ``model/net`` holds)."""

    consumes = "volume"

    def __init__(self, volume_shape: Sequence[int], channels: Sequence[int] = (16, 32, 64),
                 latent_dim: int = 64, norm: str = "batch", activation: str = "gelu",
                 output_activation: str = "identity", convs_per_level: int = 1,
                 encoder_heads: int = 1) -> None:
        super().__init__(latent_dim)
        self.encoder = Conv3dEncoder(volume_shape, channels, latent_dim, norm, activation,
                                     convs_per_level, heads=encoder_heads)
        self.decoder = Conv3dDecoder(volume_shape, channels, latent_dim, norm, activation,
                                     output_activation, convs_per_level)
