"""Release discovery, presentation-file layouts and the ROI-betas reader: bad input and leakage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import release_tree as rt
import scipy.io

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.splits import check_split_keeps_groups
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.release import IMGNAMES, STIM_LISTS
from bold5000_ae.prepare.sources.roi import RoiSource
from bold5000_ae.prepare.sources.roi_betas import RoiBetasSource
from bold5000_ae.prepare.sources.trial_layout import stim_list_path
from bold5000_ae.utils.errors import InputError

RUN_DIR = "BOLD5000_Stimuli/Stimuli_Presentation_Lists/CSI1"
NPY = "BOLD5000_GLMsingle_ROI_betas/py/CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_{}.npy"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    rt.write_stimuli(tmp_path)
    rt.write_release1(tmp_path)
    rt.write_roi_betas(tmp_path)
    return tmp_path


def test_lists_found_by_their_published_names(release: Path) -> None:
    # ROI readers prefer the zero-padded release-1 list, beta readers the release-2 imgnames
    assert stim_list_path(None, 1, release, STIM_LISTS + IMGNAMES) == \
        release / "ROIs/stim_lists/CSI01_stim_lists.txt"
    assert stim_list_path(None, 1, release, IMGNAMES + STIM_LISTS) == \
        release / RUN_DIR / "CSI1_imgnames.txt"
    for folder in ("ROIs", "ROIs/stim_lists"):  # the failing source.stim_list
        assert stim_list_path(release / folder, 1, release) == \
            release / "ROIs/stim_lists/CSI01_stim_lists.txt"
    with pytest.raises(InputError, match=r"no stimulus list for CSI2 found below it \(looked for "
                                         r"CSI2_stim_lists.txt, CSI02_stim_lists.txt"):
        stim_list_path(None, 2, release)


def test_presentation_file_problems_are_one_line(release: Path) -> None:
    run = release / RUN_DIR / "CSI1_sess01/CSI_sess01_run02.mat"
    rows = scipy.io.loadmat(run)["cur_img_names"]
    scipy.io.savemat(run, {"cur_img_names": rows[:36]})
    with pytest.raises(InputError, match="CSI_sess01_run02.mat: 36 trials, expected 37"):
        RoiSource(release).load("sub-CSI1")
    scipy.io.savemat(run, {"names": rows})
    with pytest.raises(InputError, match=r"CSI_sess01_run02.mat: no variable 'cur_img_names' "
                                         r"\(found: names\)"):
        RoiSource(release).load("sub-CSI1")
    swapped = rows.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    scipy.io.savemat(run, {"cur_img_names": swapped})
    listed, shown = rt.presented_names()[37], rt.presented_names()[38]  # run 2 opens at 37
    with pytest.raises(InputError, match=f"CSI01_stim_lists.txt: row 38 names {listed} but the "
                                         f"presentation files under .* show {shown} there"):
        RoiSource(release).load("sub-CSI1")
    (run.parent / "CSI_sess01_run01.mat").unlink()
    with pytest.raises(InputError, match=r"CSI1_sess01: runs \[2\] of session 1; runs must "
                                         r"number from 1 without gaps"):
        RoiSource(release).load("sub-CSI1")


def test_roi_betas_bad_files(release: Path) -> None:
    path = release / NPY.format("LHPPA")
    good = np.load(path)
    np.save(path, good[:110])
    with pytest.raises(InputError, match=r"LHPPA.npy: expected \(111 trials of CSI1_imgnames.txt"
                                         r", voxels\), found \(110, 3\)"):
        RoiBetasSource(release).load("sub-CSI1")
    np.save(path, np.array([{"a": 1}] * 3, dtype=object))
    with pytest.raises(InputError, match="LHPPA.npy: not a readable .npy array"):
        RoiBetasSource(release).mask_and_affine()
    bad = good.copy()
    bad[3, 1] = np.nan
    np.save(path, bad)
    with pytest.raises(InputError, match="LHPPA: 1 NaN or Inf voxel values"):
        RoiBetasSource(release).load("sub-CSI1")
    with pytest.raises(InputError, match=r"CSI1: unknown or repeated ROI\(s\) \['V4'\]"):
        RoiBetasSource(release, rois=["LHPPA", "V4"])
    with pytest.raises(InputError, match="no CSI2_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_"):
        RoiBetasSource(release, subjects=[2])


def test_roi_betas_needs_sessions_to_zscore(release: Path) -> None:
    empty = release / "no_runs_here"
    empty.mkdir()
    with pytest.raises(InputError, match="z-scoring per session needs the sessions"):
        RoiBetasSource(release, presentation_root=empty).load("sub-CSI1")
    unit = RoiBetasSource(release, presentation_root=empty, runs_per_session=[2, 1]).load(
        "sub-CSI1")
    assert unit.samples.session.tolist() == rt.session_of_trial().tolist()


def test_split_guard_keeps_sessions_whole() -> None:
    trials = pd.DataFrame({"subject": 1, "session": [1, 1, 2, 2, 3, 3]})
    attrs = {"source": {"normalized_within": "session"}}
    ok = np.array(["train", "train", "val", "val", "test", "excluded"], dtype=object)
    check_split_keeps_groups(attrs, trials, ok, "f.h5")
    cut = np.array(["train", "val", "val", "val", "test", "test"], dtype=object)
    with pytest.raises(InputError, match=r"f.h5: rows are z-scored within each session but the "
                                         r"split puts 1 session\(s\) on more than one side"):
        check_split_keeps_groups(attrs, trials, cut, "f.h5")
    check_split_keeps_groups({"source": {"normalized_within": None}}, trials, cut, "f.h5")
    check_split_keeps_groups({"source": "synthetic"}, trials, cut, "f.h5")  # a name only
    old_betas_file = {"source": {"source": "betas", "zscore": "per voxel within session"}}
    with pytest.raises(InputError, match="z-scored within each session"):
        check_split_keeps_groups(old_betas_file, trials, cut, "f.h5")


@pytest.mark.parametrize("zscore", [True, False])
def test_run_split_refused_only_for_session_zscored_betas(release: Path, tmp_path: Path,
                                                          zscore: bool) -> None:
    """The default run split would put one session on two sides."""
    out = tmp_path / f"rb{zscore}.h5"
    prepare_dataset(RoiBetasSource(release, zscore=zscore), out, stimuli_root=None,
                    image_size=8, labels={})
    module = BoldDataModule(out, batch_size=8)
    if zscore:
        with pytest.raises(InputError, match="z-scored within each session"):
            module.setup()
    else:
        module.setup()
        assert sorted(set(module.assignment)) == ["test", "train", "val"]


def test_roi_betas_pickled_npy_is_not_unpickled(release: Path) -> None:
    """``.npy`` object arrays hold pickles; the reader never loads them."""
    marker = release / "pwned"
    path = release / NPY.format("RHLOC")

    class Payload:
        def __reduce__(self):
            import os
            return os.system, (f"touch {marker}",)

    with open(path, "wb") as fh:
        np.lib.format.write_array(fh, np.array([Payload()], dtype=object), allow_pickle=True)
    assert b"system" in path.read_bytes()  # the payload is a real pickle inside the .npy
    with pytest.raises(InputError, match="RHLOC.npy: not a readable .npy array"):
        RoiBetasSource(release).mask_and_affine()
    assert not marker.exists()
