"""The linear voxel paths beside the conv trunks, and the warm-up + cosine schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from bold5000_ae.models.components.mlp import MLPAutoencoderNet
from bold5000_ae.models.components.voxel_path import VoxelPath, VoxelReadout, voxel_paths
from bold5000_ae.models.schedules import warmup_cosine

GRID = (6, 7, 5)
MASK = np.zeros(GRID, bool)
MASK[1:5, 2:6, 1:4] = True


def test_auto_gives_an_autoencoder_both_paths_and_a_vae_the_readout_only() -> None:
    assert voxel_paths("auto", heads=1, mask=MASK) == (True, True)
    assert voxel_paths("auto", heads=2, mask=MASK) == (False, True)
    assert voxel_paths("none", heads=1) == (False, False)
    with pytest.raises(ValueError, match="needs the brain mask"):
        voxel_paths("both", heads=1, mask=None)
    with pytest.raises(ValueError, match="unknown voxel_path"):
        voxel_paths("encoder", heads=1, mask=MASK)


def test_encoder_path_starts_at_zero_and_readout_stays_in_the_mask() -> None:
    path = VoxelPath(MASK, 4)
    assert torch.count_nonzero(path(torch.randn(3, 1, *GRID))) == 0
    out = VoxelReadout(MASK, 4)(torch.randn(3, 4))
    assert out.shape == (3, 1, *GRID)
    assert torch.count_nonzero(out[:, 0, ~torch.as_tensor(MASK)]) == 0
    assert torch.count_nonzero(out[:, 0, torch.as_tensor(MASK)]) > 0


def test_readout_alone_is_a_linear_map_of_the_latent() -> None:
    """upsampling=false: decoding is linear in the code, voxel by voxel (what PCA's
    reconstruction is), and the trunk's parameters are absent."""
    net = Conv3dAutoencoderNet(GRID, channels=[4], latent_dim=3, mask=MASK, voxel_path="both",
                               upsampling=False)
    assert not hasattr(net.decoder, "up")
    z1, z2 = torch.randn(2, 3), torch.randn(2, 3)
    dec = net.decoder
    bias = dec(torch.zeros(2, 3))
    assert torch.allclose(dec(z1 + z2) - bias, (dec(z1) - bias) + (dec(z2) - bias), atol=1e-5)
    with pytest.raises(ValueError, match="needs the voxel read-out"):
        Conv3dAutoencoderNet(GRID, channels=[4], latent_dim=3, voxel_path="none",
                             upsampling=False)


def test_mlp_voxel_path_sits_beside_the_hidden_layers() -> None:
    n = int(MASK.sum())
    with_path = MLPAutoencoderNet(n, hidden=[8], latent_dim=3, voxel_path="both")
    assert with_path.encoder.voxel_path is not None and with_path.decoder.voxel_readout is not None
    # no hidden layer: the head is already the linear map, nothing is added
    linear = MLPAutoencoderNet(n, hidden=[], latent_dim=3, voxel_path="both")
    assert linear.encoder.voxel_path is None and linear.decoder.voxel_readout is None


def test_warmup_cosine_rises_then_anneals_and_holds_past_the_end() -> None:
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = warmup_cosine(opt, total_steps=100, warmup_fraction=0.1, final_fraction=0.01)
    rates = []
    for _ in range(120):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert rates[55] == pytest.approx(0.01 + 0.99 * 0.5, abs=1e-6)  # half-way down the cosine
    assert rates[100] == pytest.approx(0.01) and rates[119] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(rates[9:100], rates[10:101]))


def test_a_resumed_schedule_with_more_steps_continues_instead_of_failing() -> None:
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=1.0)
    first = warmup_cosine(opt, total_steps=10)
    for _ in range(10):
        opt.step()
        first.step()
    state = first.state_dict()
    resumed = warmup_cosine(opt, total_steps=40)
    resumed.load_state_dict(state)
    for _ in range(20):
        opt.step()
        resumed.step()
    assert 1e-4 < opt.param_groups[0]["lr"] < 1.0
