"""A small CNN from a stimulus image (B, 3, H, W) in [0, 1] to a latent vector (phase 4).

Strided 2D convs, global average pooling, a linear map to the BOLD encoder's latent size.
Nothing pretrained: the machines here have no internet, and the synthetic stimuli are textures
a small net learns from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bold5000_ae.models.components.blocks import make_activation, make_norm


class ImageEncoder(nn.Module):
    consumes = "image"  # built with no data-derived arguments

    def __init__(self, latent_dim: int = 64, channels: Sequence[int] = (32, 64, 128),
                 norm: str = "batch", activation: str = "gelu", dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        prev = 3
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 3, stride=2, padding=1, bias=norm == "none"),
                       make_norm(norm, ch, 2), make_activation(activation),
                       nn.Conv2d(ch, ch, 3, padding=1, bias=norm == "none"),
                       make_norm(norm, ch, 2), make_activation(activation)]
            prev = ch
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(prev, latent_dim))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(image))
