"""Masked brain modelling: which voxels are hidden, in patches, and the expected input kept."""

from __future__ import annotations

import pytest
import torch

from bold5000_ae.losses.masked_modelling import VoxelMasking


def test_hides_the_ratio_in_whole_patches_and_keeps_the_expected_input() -> None:
    torch.manual_seed(0)
    bold = torch.ones(4000, 100)
    out = VoxelMasking(ratio=0.75, patch=16).corrupt_input(bold)
    hidden = out == 0
    assert hidden.float().mean().item() == pytest.approx(0.75, abs=0.01)
    # a patch is hidden or visible as a whole: voxels 0..15 agree, as do 96..99 (the last,
    # shorter patch)
    assert torch.equal(hidden[:, :16], hidden[:, :1].expand(-1, 16))
    assert torch.equal(hidden[:, 96:], hidden[:, 96:97].expand(-1, 4))
    assert torch.allclose(out[~hidden], torch.tensor(4.0))  # visible ones scaled by 1/(1-0.75)
    assert out.mean().item() == pytest.approx(1.0, abs=0.02)


def test_masks_differ_between_samples_and_ratio_zero_is_identity() -> None:
    torch.manual_seed(1)
    out = VoxelMasking(ratio=0.5, patch=1).corrupt_input(torch.ones(2, 64))
    assert not torch.equal(out[0], out[1])
    bold = torch.randn(3, 10)
    assert torch.equal(VoxelMasking(ratio=0.0).corrupt_input(bold), bold)


@pytest.mark.parametrize("kwargs", [{"ratio": 1.0}, {"ratio": -0.1}, {"patch": 0}])
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        VoxelMasking(**kwargs)
