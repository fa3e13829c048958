"""Release-1 ROI files: small files in the exact layout, read back through bold5000-ae-prepare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.roi import ROI_ORDER, RoiSource
from bold5000_ae.utils.errors import InputError

# Widths of the real CSI1 ROI masks (checked against the masks in test_real_roi_masks).
CSI1_WIDTHS = {"LHPPA": 131, "RHLOC": 190, "LHLOC": 152, "RHEarlyVis": 285, "RHRSC": 143,
               "RHOPA": 187, "RHPPA": 200, "LHEarlyVis": 210, "LHRSC": 86, "LHOPA": 101}
NAMES = ["n01930112_19568.JPEG", "COCO_train2014_000000420713.jpg", "rep_n01930112_19568.JPEG",
         "airplanecabin4.jpg"]
N_TRIALS = 3 * 37  # three runs of 37 trials


def write_roi_release(root: Path, fmt: str = "mat", n: int = N_TRIALS,
                      rois: dict[str, int] = CSI1_WIDTHS, seed: int = 0) -> np.ndarray:
    """``ROIs/CSI1/{mat,h5}/CSI1_ROIs_TR34.*`` + stimulus list; returns the concatenated data."""
    rng = np.random.default_rng(seed)
    arrays = {r: rng.standard_normal((n, w)) for r, w in rois.items()}  # MATLAB doubles
    folder = root / "ROIs" / "CSI1" / fmt
    folder.mkdir(parents=True)
    if fmt == "mat":
        scipy.io.savemat(folder / "CSI1_ROIs_TR34.mat", arrays)
    else:
        with h5py.File(folder / "CSI1_ROIs_TR34.h5", "w") as h5:
            for name, data in arrays.items():
                h5.create_dataset(name, data=data)
    (root / "stim_lists").mkdir(exist_ok=True)
    names = [NAMES[i % len(NAMES)] for i in range(n)]
    (root / "stim_lists" / "CSI1_stim_lists.txt").write_text("\n".join(names) + "\n")
    return np.concatenate([arrays[r] for r in ROI_ORDER if r in rois], axis=1)


def _source(root: Path, **kwargs) -> RoiSource:
    return RoiSource(root / "ROIs", stim_list=str(root / "stim_lists/CSI{subject}_stim_lists.txt"),
                     **kwargs)


@pytest.mark.parametrize("fmt", ["mat", "h5"])
def test_roi_file_rows_columns_and_layout(tmp_path: Path, fmt: str) -> None:
    expected = write_roi_release(tmp_path, fmt)
    source = _source(tmp_path, format=fmt, runs_per_session=[2, 1])
    mask, affine = source.mask_and_affine()
    assert mask.shape == (1685, 1, 1) and mask.all() and np.array_equal(affine, np.eye(4))
    unit = source.load("sub-CSI1")
    np.testing.assert_allclose(unit.bold, expected.astype(np.float32))
    s = unit.samples
    assert s.presented_name.tolist()[:3] == NAMES[:3]
    assert s.groupby(["session", "run"]).size().to_dict() == {(1, 1): 37, (1, 2): 37, (2, 1): 37}
    assert s.trial.iloc[37] == 1 and np.isnan(s.offset_s).all()  # TR34: a mean, no one offset
    assert source.describe()["roi_widths"] == [CSI1_WIDTHS[r] for r in ROI_ORDER]


def test_roi_selection_and_matlab_v73_orientation(tmp_path: Path) -> None:
    """A (voxels, trials) array, as MATLAB v7.3 writes, is transposed; rois picks columns."""
    rois = {"RHPPA": 5, "LHPPA": 3}
    write_roi_release(tmp_path, "h5", n=37, rois=rois)
    path = tmp_path / "ROIs/CSI1/h5/CSI1_ROIs_TR34.h5"
    with h5py.File(path, "a") as h5:
        data = h5["LHPPA"][()]
        del h5["LHPPA"]
        h5["LHPPA"] = data.T
    source = _source(tmp_path, format="h5", rois=["LHPPA"])
    assert source.mask_and_affine()[0].shape == (3, 1, 1)
    np.testing.assert_allclose(source.load("sub-CSI1").bold, data.astype(np.float32))
    assert source.load("sub-CSI1").samples.session.eq(0).all()  # no layout: session unknown


def test_roi_errors(tmp_path: Path) -> None:
    write_roi_release(tmp_path, "mat", n=37, rois={"LHPPA": 4})
    with pytest.raises(InputError, match="ROI file not found"):
        _source(tmp_path, tr="2")
    with pytest.raises(InputError, match=r"missing ROI array\(s\) \['RHLOC'\]"):
        _source(tmp_path, rois=["LHPPA", "RHLOC"]).mask_and_affine()
    names = tmp_path / "stim_lists/CSI1_stim_lists.txt"
    names.write_text("\n".join(names.read_text().split()[:30]))
    with pytest.raises(InputError, match="stimulus list shorter than the trials: 30 names for 37"):
        _source(tmp_path, rois=["LHPPA"]).load("sub-CSI1")


def test_roi_widths_checked_against_masks(tmp_path: Path) -> None:
    write_roi_release(tmp_path, "mat", n=37, rois={"LHPPA": 4})
    mask = np.zeros((5, 5, 5), np.uint8)
    mask[1:3, 1:3, 1] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "sub-CSI1_mask-LHPPA.nii.gz")
    source = _source(tmp_path, rois=["LHPPA"],
                     roi_masks=str(tmp_path / "sub-CSI{subject}_mask-{roi}.nii.gz"))
    assert source.load("sub-CSI1").bold.shape == (37, 4)
    mask[3, 3, 3] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "sub-CSI1_mask-LHPPA.nii.gz")
    with pytest.raises(InputError, match="LHPPA mask holds 5 voxels but the ROI file has 4"):
        source.load("sub-CSI1")


def test_real_roi_masks_match_release_widths(shared_bold5000: Path) -> None:
    """The ten CSI1 masks hold 1685 voxels (19 of them in two ROIs): the ROI files' width."""
    counts = {}
    union = None
    for roi in ROI_ORDER:
        img = nib.load(shared_bold5000 / f"roi_masks/sub-CSI1_mask-{roi}.nii.gz")
        data = np.asanyarray(img.dataobj) > 0
        counts[roi] = int(data.sum())
        union = data if union is None else union | data
    assert counts == CSI1_WIDTHS
    assert sum(counts.values()) == 1685 and int(union.sum()) == 1666


@pytest.mark.subprocess
def test_prepare_console_script_reads_roi_mat(tmp_path: Path, shared_bold5000: Path) -> None:
    """The real entry point, end to end: .mat + real masks + WordNet labels -> HDF5."""
    expected = write_roi_release(tmp_path, "mat")
    output = tmp_path / "roi.h5"
    script = Path(sys.executable).with_name("bold5000-ae-prepare")
    result = subprocess.run(
        [str(script), "source=roi", f"source.root={tmp_path / 'ROIs'}",
         f"source.stim_list={tmp_path}/stim_lists",
         "source.reader.runs_per_session=[2,1]",
         f"source.reader.roi_masks={shared_bold5000}/roi_masks",
         f"labels.wordnet_is_a={shared_bold5000}/labels/wordnet.is_a.txt",
         f"output={output}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    data = read_prepared(output)
    np.testing.assert_allclose(data.bold, expected, rtol=1e-6)
    assert data.mask.shape == (1685, 1, 1) and data.attrs["grid_kind"] == "roi_columns"
    assert data.attrs["source"]["roi_order"] == list(ROI_ORDER)
    assert data.image_names == [n.removeprefix("rep_") for n in NAMES[:2]] + NAMES[3:]
    # nematode (living) x 56 trials; COCO without annotations and scenes: unknown
    assert (data.trials.label == 1).sum() == 56 and (data.trials.label == -1).sum() == 55
    assert data.trials.repeat_index.max() == 55  # the nematode's 56th presentation
    assert "WordNet" in data.attrs["label_rule"]["imagenet"]["rule"]


def test_prepare_fails_on_unlabelled_image_when_asked(tmp_path: Path,
                                                      shared_bold5000: Path) -> None:
    write_roi_release(tmp_path, "mat", n=37, rois={"LHPPA": 3})
    labels = {"wordnet_is_a": str(shared_bold5000 / "labels/wordnet.is_a.txt"),
              "fail_on_unlabeled": True}
    with pytest.raises(InputError, match="COCO_train2014_000000420713.jpg: cannot label"):
        prepare_dataset(_source(tmp_path, rois=["LHPPA"]), tmp_path / "x.h5", stimuli_root=None,
                        image_size=8, labels=labels)
    assert not (tmp_path / "x.h5").exists()
