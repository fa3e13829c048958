"""Every model/net config builds for a grid and maps volumes (or vectors) to the latent and back
with the right shapes; norms, activations and VAE heads come from the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from bold5000_ae.models.build import data_kwargs
from bold5000_ae.models.components.image_cnn import ImageEncoder
from bold5000_ae.synthetic import brain_mask
from bold5000_ae.utils.config import CONFIG_DIR

NET_CONFIGS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model" / "net").glob("*.yaml"))
GRID = (11, 14, 9)  # odd sizes: the decoders must retrace them exactly


class _Data:
    mask = brain_mask(GRID)
    volume_shape = GRID


def build(name: str, **overrides) -> torch.nn.Module:
    cfg = OmegaConf.load(Path(CONFIG_DIR) / "model" / "net" / f"{name}.yaml")
    small = {"channels": [4, 8], "hidden": [16]}
    for key, value in {**small, **overrides}.items():
        if key in cfg:
            cfg[key] = value
    return instantiate(cfg, **data_kwargs(cfg._target_, _Data()))


def net_input(net: torch.nn.Module, batch: int) -> torch.Tensor:
    if net.consumes == "vector":
        return torch.randn(batch, int(_Data.mask.sum()))
    return torch.randn(batch, 1, *GRID)


@pytest.mark.parametrize("name", NET_CONFIGS)
@pytest.mark.parametrize("norm", ["batch", "group", "instance", "none"])
def test_net_shapes(name: str, norm: str) -> None:
    net = build(name, latent_dim=5, norm=norm, activation="silu")
    x = net_input(net, 3)
    z = net.encoder(x)
    assert z.shape == (3, 5)
    assert net.decoder(z).shape == x.shape
    assert net(x).shape == x.shape


@pytest.mark.parametrize("name", NET_CONFIGS)
def test_vae_heads_double_the_encoder_output(name: str) -> None:
    net = build(name, latent_dim=6, encoder_heads=2)
    assert net.encoder(net_input(net, 2)).shape == (2, 12)
    assert net.decoder(torch.randn(2, 6)).shape == net_input(net, 2).shape


def test_output_activation_and_depth() -> None:
    net = build("conv3d", channels=[2, 4, 8], latent_dim=3, output_activation="sigmoid")
    out = net(net_input(net, 2))
    assert out.min() >= 0 and out.max() <= 1
    strided = [m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv3d)]
    assert len(strided) == 3


def test_conv2d_puts_slices_on_channels() -> None:
    net = build("conv2d", slice_axis=0)
    first = next(m for m in net.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert first.in_channels == GRID[0]


def test_unknown_norm_is_refused() -> None:
    with pytest.raises(Exception, match="unknown norm .layer."):
        build("conv3d", norm="layer")


def test_image_encoder_shape() -> None:
    net = ImageEncoder(latent_dim=7, channels=[4, 8])
    assert net(torch.rand(2, 3, 16, 16)).shape == (2, 7)


def test_mlp_sees_only_the_masked_vector() -> None:
    net = build("mlp", latent_dim=4)
    first = net.encoder.features[0]
    assert first.in_features == int(np.sum(_Data.mask))
