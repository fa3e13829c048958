"""BIDS runs: every cleaning option of the issue, and the bad inputs, on the tiny synthetic set."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bold5000_ae.prepare.events import read_events
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.utils.errors import InputError

RUN = "sub-CSI1_ses-01_run-01"
FUNC = "sub-CSI1/ses-01/func"
STEM = "sub-CSI1_ses-01_task-5000scenes_run-01"
MASK = "{root}/derivatives/masks/sub-CSI{subject}_brainmask.nii.gz"


@pytest.fixture
def bids(synthetic_raw: Path, tmp_path: Path) -> Path:
    root = tmp_path / "bids"
    shutil.copytree(synthetic_raw / "bids", root)
    return root


def test_no_cleaning_keeps_the_raw_volumes_at_onset_plus_4_6_8(bids: Path) -> None:
    source = BidsSource(bids, mask=MASK, detrend=False, high_pass=None, standardize=False)
    unit = source.load(RUN)
    mask, _ = source.mask_and_affine()
    raw = np.asanyarray(nib.load(bids / FUNC / f"{STEM}_bold.nii.gz").dataobj)
    onsets = read_events(bids / FUNC / f"{STEM}_events.tsv").onset.to_numpy()
    frames = np.rint((onsets[:, None] + [4.0, 6.0, 8.0]) / 2.0).astype(int).ravel()
    np.testing.assert_allclose(unit.bold, raw[mask][:, frames].T, rtol=1e-5)
    assert unit.samples.offset_s.tolist()[:3] == [4.0, 6.0, 8.0]


def test_cleaning_options_each_change_the_data(bids: Path) -> None:
    base = BidsSource(bids, mask=MASK).load(RUN).bold
    assert base.shape == (24, 440)
    variants = {"detrend": dict(detrend=False), "high_pass": dict(high_pass=None),
                "standardize": dict(standardize=False), "smoothing": dict(smoothing_fwhm=12.0)}
    for name, kwargs in variants.items():
        other = BidsSource(bids, mask=MASK, **kwargs).load(RUN).bold
        assert other.shape == base.shape and not np.allclose(other, base, atol=1e-3), name
    confounds = pd.DataFrame({"trans_x": np.linspace(0, 1, 50), "rot_x": np.sin(np.arange(50)),
                              "csf": np.r_[np.nan, np.ones(49)]})
    confounds.to_csv(bids / FUNC / f"{STEM}_desc-confounds_timeseries.tsv", sep="\t",
                     index=False)
    cleaned = BidsSource(bids, mask=MASK, confounds=["trans_x", "rot_x"]).load(RUN).bold
    assert not np.allclose(cleaned, base, atol=1e-3)
    with pytest.raises(InputError, match=r"missing confound column\(s\) rot_z"):
        BidsSource(bids, mask=MASK, confounds=["rot_z"]).load(RUN)


def test_mean_mode_compute_mask_and_resampling(bids: Path) -> None:
    mean = BidsSource(bids, mask=MASK, mode="mean").load(RUN)
    assert mean.bold.shape == (8, 440) and mean.samples.offset_s.isna().all()
    assert mean.samples.trial.tolist() == list(range(1, 9))
    computed = BidsSource(bids, mask="compute")
    mask, _ = computed.mask_and_affine()
    assert mask.shape == (12, 14, 12) and 200 < mask.sum() < 1000
    resampled = BidsSource(bids, mask=MASK, target_shape=[6, 7, 6],
                           target_voxel_size_mm=[16.0, 16.0, 16.0])
    mask, affine = resampled.mask_and_affine()
    assert mask.shape == (6, 7, 6)
    np.testing.assert_allclose(np.abs(np.diag(affine)[:3]), 16.0)
    assert resampled.load(RUN).bold.shape == (24, int(mask.sum()))


def test_bids_bad_inputs(bids: Path) -> None:
    func = bids / FUNC
    data = nib.load(func / f"{STEM}_bold.nii.gz")
    full = np.asanyarray(data.dataobj).copy()
    short = full[..., :20]
    nib.save(nib.Nifti1Image(short, data.affine, data.header), func / f"{STEM}_bold.nii.gz")
    with pytest.raises(InputError, match=f"{STEM}_events.tsv: events need volume .* the run has "
                                         "20 volumes"):
        BidsSource(bids, mask=MASK).load(RUN)
    bad = full
    bad[6, 7, 6, 3] = np.inf
    nib.save(nib.Nifti1Image(bad, data.affine, data.header), func / f"{STEM}_bold.nii.gz")
    with pytest.raises(InputError, match="1 NaN or Inf voxel values inside the mask"):
        BidsSource(bids, mask=MASK).load(RUN)
    mask = bids / "other_mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((12, 14, 11), np.uint8), data.affine), mask)
    with pytest.raises(InputError, match=r"other_mask.nii.gz: mask grid \(12, 14, 11\) does not "
                                         r"match the run grid \(12, 14, 12\)"):
        BidsSource(bids, mask=str(mask)).mask_and_affine()
    (func / f"{STEM}_bold.nii.gz").unlink()
    with pytest.raises(InputError, match=f"{STEM}_events.tsv: events without a matching run"):
        BidsSource(bids, mask=MASK)
    (func / f"{STEM}_events.tsv").unlink()
    (func / "sub-CSI1_ses-01_task-5000scenes_run-02_events.tsv").unlink()
    with pytest.raises(InputError, match="run-02_bold.nii.gz: no matching events file"):
        BidsSource(bids, mask=MASK)


def test_multi_subject_needs_a_common_grid(bids: Path) -> None:
    other = bids / "sub-CSI2/ses-01/func"
    other.mkdir(parents=True)
    data = nib.load(bids / FUNC / f"{STEM}_bold.nii.gz")
    moved = data.affine.copy()
    moved[0, 3] += 4.0
    nib.save(nib.Nifti1Image(np.asanyarray(data.dataobj), moved, data.header),
             other / "sub-CSI2_ses-01_task-5000scenes_run-01_bold.nii.gz")
    shutil.copy(bids / FUNC / f"{STEM}_events.tsv",
                other / "sub-CSI2_ses-01_task-5000scenes_run-01_events.tsv")
    with pytest.raises(InputError, match="need a common grid"):
        BidsSource(bids, mask="compute").mask_and_affine()
    resampled = BidsSource(bids, mask="compute", target_shape=[12, 14, 12],
                           target_voxel_size_mm=[8.0, 8.0, 8.0])
    mask, _ = resampled.mask_and_affine()
    assert resampled.load("sub-CSI2_ses-01_run-01").bold.shape == (24, int(mask.sum()))


def test_fmriprep_names_with_events_elsewhere(bids: Path, tmp_path: Path) -> None:
    prep = tmp_path / "fmriprep" / FUNC
    prep.mkdir(parents=True)
    for space in ("T1w", "MNI152NLin2009cAsym"):
        shutil.copy(bids / FUNC / f"{STEM}_bold.nii.gz",
                    prep / f"{STEM}_space-{space}_desc-preproc_bold.nii.gz")
    with pytest.raises(InputError, match="second BOLD file for the run"):
        BidsSource(tmp_path / "fmriprep", events_root=bids)
    source = BidsSource(tmp_path / "fmriprep", events_root=bids, space="T1w", mask="compute")
    assert source.units() == [RUN] and source.load(RUN).bold.shape[0] == 24


def test_cosine_high_pass_survives_a_confound_that_looks_like_a_cosine(bids: Path) -> None:
    """nilearn drops its whole cosine filter when a confound correlates > 0.9 with one cosine;
    a slowly drifting motion trace does. The drift in the other cosines must still go."""
    from nilearn.glm.first_level import make_first_level_design_matrix

    path = bids / FUNC / f"{STEM}_bold.nii.gz"
    img = nib.load(path)
    n = img.shape[3]
    cosines = make_first_level_design_matrix(np.arange(n) * 2.0, drift_model="cosine",
                                             high_pass=0.03).drop(columns="constant").to_numpy()
    assert cosines.shape[1] >= 4
    rng = np.random.default_rng(0)
    base = 1000.0 + rng.normal(0, 5.0, img.shape)  # noise only
    drift = np.einsum("tk,kxyz->xyzt", cosines[:, 1:4],  # not in trans_x
                      rng.normal(0, 40.0, (3, *img.shape[:3])))
    motion = pd.DataFrame({"trans_x": cosines[:, 0] + rng.normal(0, 0.02, n)})
    motion.to_csv(bids / FUNC / f"{STEM}_desc-confounds_timeseries.tsv", sep="\t", index=False)
    assert abs(np.corrcoef(motion.trans_x, cosines[:, 0])[0, 1]) > 0.9
    kwargs = dict(mask=MASK, detrend=False, standardize=False, high_pass=0.03,
                  confounds=["trans_x"])
    cleaned = {}
    for name, data in (("noise", base), ("drift", base + drift)):
        nib.save(nib.Nifti1Image(data.astype(np.float32), img.affine, img.header), path)
        cleaned[name] = BidsSource(bids, **kwargs).load(RUN).bold
    np.testing.assert_allclose(cleaned["drift"], cleaned["noise"], atol=0.05)
