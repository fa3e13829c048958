"""Release-2 GLMsingle betas: small session files in the exact layout, read back."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.betas import BetasSource
from bold5000_ae.utils.errors import InputError

GRID = (6, 7, 5)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
SESSION_TRIALS = (74, 37)  # session 1: two runs, session 2: one run


def write_betas(root: Path, sessions: tuple[int, ...] = SESSION_TRIALS) -> list[np.ndarray]:
    """CSI1 session files (X, Y, Z, trials) float32 in % signal change, brain mask, list."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(GRID, np.uint8)
    mask[1:5, 1:6, 1:4] = 1
    nib.save(nib.Nifti1Image(mask, AFFINE), root / "CSI1_brainmask.nii.gz")
    volumes = []
    for ses, n in enumerate(sessions, 1):
        data = (rng.normal(3.0 * ses, 2.0 * ses, (*GRID, n))).astype(np.float32)
        data[mask == 0] = np.nan  # GLMsingle leaves outside-brain voxels empty
        nib.save(nib.Nifti1Image(data, AFFINE),
                 root / f"CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{ses:02d}.nii.gz")
        volumes.append(data[mask > 0].T)
    names = [f"n01930112_{i}.JPEG" for i in range(sum(sessions))]
    (root / "CSI1_stim_lists.txt").write_text("\n".join(names) + "\n")
    return volumes


def test_betas_rows_match_list_and_are_zscored_per_session(tmp_path: Path) -> None:
    raw = write_betas(tmp_path)
    source = BetasSource(tmp_path, stim_list=str(tmp_path))
    assert source.units() == ["sub-CSI1_ses-01", "sub-CSI1_ses-02"]
    mask, affine = source.mask_and_affine()
    assert mask.sum() == 60 and np.array_equal(affine, AFFINE)
    second = source.load("sub-CSI1_ses-02")
    assert second.bold.shape == (37, 60)
    np.testing.assert_allclose(second.bold.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(second.bold.std(0), 1, atol=1e-4)
    expected = (raw[1] - raw[1].mean(0)) / raw[1].std(0)
    np.testing.assert_allclose(second.bold, expected, atol=1e-4)
    # session 2 starts after session 1's 74 trials in the stimulus list
    assert second.samples.presented_name.iloc[0] == "n01930112_74.JPEG"
    first = source.load("sub-CSI1_ses-01").samples
    assert first.run.tolist() == [1] * 37 + [2] * 37 and first.trial.iloc[37] == 1


def test_betas_session_selection_keeps_list_offsets(tmp_path: Path) -> None:
    write_betas(tmp_path)
    source = BetasSource(tmp_path, stim_list=str(tmp_path), sessions=[2], zscore=False)
    assert source.units() == ["sub-CSI1_ses-02"]
    assert source.load("sub-CSI1_ses-02").samples.presented_name.iloc[-1] == \
        "n01930112_110.JPEG"


def test_betas_prepare_records_rule(tmp_path: Path) -> None:
    write_betas(tmp_path / "betas")
    summary = prepare_dataset(BetasSource(tmp_path / "betas", stim_list=str(tmp_path / "betas")),
                              tmp_path / "betas.h5", stimuli_root=None, image_size=8,
                              labels={})
    assert summary["samples"] == 111 and summary["sessions"] == 2 and summary["runs"] == 3
    data = read_prepared(tmp_path / "betas.h5")
    assert data.attrs["source"]["zscore"] == "per voxel within session"
    assert data.attrs["grid_kind"] == "volume" and data.mask.shape == GRID


def test_betas_bad_inputs(tmp_path: Path) -> None:
    write_betas(tmp_path)
    names = tmp_path / "CSI1_stim_lists.txt"
    full = names.read_text()
    names.write_text("\n".join(full.split()[:100]))
    with pytest.raises(InputError, match="stimulus list shorter than the trials: 100 names "
                                         "for 111 trials"):
        BetasSource(tmp_path, stim_list=str(tmp_path))
    names.write_text(full)
    nib.save(nib.Nifti1Image(np.ones((6, 7, 4), np.uint8), AFFINE),
             tmp_path / "CSI1_brainmask.nii.gz")
    with pytest.raises(InputError, match=r"CSI1_brainmask.nii.gz: mask grid \(6, 7, 4\) does "
                                         r"not match the grid \(6, 7, 5\)"):
        BetasSource(tmp_path, stim_list=str(tmp_path)).mask_and_affine()
    nib.save(nib.Nifti1Image(np.ones(GRID, np.uint8), AFFINE), tmp_path / "CSI1_brainmask.nii.gz")
    with pytest.raises(InputError, match="NaN or Inf voxel values inside the mask"):
        BetasSource(tmp_path, stim_list=str(tmp_path)).load("sub-CSI1_ses-01")
    (tmp_path / "CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-01.nii.gz").unlink()
    with pytest.raises(InputError, match=r"sessions \[2\]; sessions must run from 1"):
        BetasSource(tmp_path, stim_list=str(tmp_path))
