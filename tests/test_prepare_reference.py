"""A prepare option that resamples every run and the mask onto a reference grid
(MNI152 from nilearn's packaged templates, or a NIfTI), so two subjects on different native grids
form one multi-file dataset a volume net trains on; without it, one refusal line."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.data.prepared_set import PreparedSet
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.prepare.sources.reference_grid import load_reference
from bold5000_ae.synthetic import EasySpec, generate
from bold5000_ae.utils.errors import InputError
from tests.helpers.cli import console_script, run_train
from tests.helpers.synthetic import prepare_synthetic

# one xdist worker runs this module: its module-scoped two_grids is built once
pytestmark = pytest.mark.xdist_group("prepare_reference")

# Two subjects, two sessions of one run each, on grids of different shape and voxel size
SPEC_A = EasySpec(grid=(12, 14, 12), voxel_size_mm=(8.0, 8.0, 8.0), sessions=2,
                  runs_per_session=1, trials_per_run=8, volumes_per_run=50,
                  unique_images=16, image_size=16, seed=3)
SPEC_B = replace(SPEC_A, grid=(10, 12, 10), voxel_size_mm=(9.6, 9.6, 9.6), seed=4)
MASK = "{root}/derivatives/masks/sub-CSI{subject}_brainmask.nii.gz"
CROSS_SUBJECT = ["model/net=conv3d", "data/split=cross_subject",
                 "data.split.train_subjects=[1]", "data.split.test_subjects=[2]"]


def _as_subject(raw: Path, subject: int) -> None:
    """Rename the generated subject 1 (folders and files) to ``subject``."""
    for path in sorted(raw.rglob("*sub-CSI1*"), key=lambda p: len(p.parts), reverse=True):
        path.rename(path.with_name(path.name.replace("sub-CSI1", f"sub-CSI{subject}")))


@pytest.fixture(scope="module")
def two_grids(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("two_grids")
    generate(root / "csi1", SPEC_A)
    generate(root / "csi2", SPEC_B)
    _as_subject(root / "csi2", 2)
    return root / "csi1", root / "csi2"


@pytest.mark.slow
@pytest.mark.subprocess
def test_two_subjects_on_their_own_grids_train_a_conv3d_once_on_one_reference(
        two_grids: tuple[Path, Path], tmp_path: Path) -> None:
    """One prepare job per subject (a multirun, as the cluster recipe of docs/scaling.md), both
    onto MNI152 at 8 mm, then a cross-subject conv3d run over the two files."""
    for raw in two_grids:
        (tmp_path / raw.name).symlink_to(raw)
    done = subprocess.run(
        [console_script("bold5000-ae-prepare"), "-m", "source=synthetic",
         f"source.root={tmp_path / 'csi1'},{tmp_path / 'csi2'}", "output=${source.root}.h5",
         "image_size=16", "reference=mni152", "reference_resolution_mm=8",
         "hydra.callbacks.report.enabled=false"],
        capture_output=True, text=True, timeout=600, env={**os.environ,
                                                          "PROJECT_ROOT": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    files = [tmp_path / "csi1.h5", tmp_path / "csi2.h5"]
    a, b = (read_prepared(f) for f in files)
    brain = load_reference("mni152", 8).brain_mask
    for data in (a, b):
        assert data.attrs["reference"]["name"] == "mni152 (8 mm)"
        assert data.attrs["reference"]["interpolation"] == "linear"
        assert data.mask.shape == brain.shape and not (data.mask & ~brain).any()
    np.testing.assert_allclose(a.affine, b.affine)
    both = PreparedSet(files)
    assert 100 < both.n_voxels <= min(a.mask.sum(), b.mask.sum())
    done = run_train(CROSS_SUBJECT, tmp_path, f"[{files[0]},{files[1]}]")  # one epoch
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(next(tmp_path.rglob("metrics.json")).read_text())
    assert np.isfinite(metrics["test/r2"])


@pytest.mark.subprocess
def test_two_native_grids_are_refused_in_one_line(two_grids: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    files = [tmp_path / "csi1.h5", tmp_path / "csi2.h5"]
    for raw, out in zip(two_grids, files, strict=True):
        prepare_synthetic(raw, out)
    done = run_train([*CROSS_SUBJECT], tmp_path, f"[{files[0]},{files[1]}]")
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == [
        f"error: {files[1]}: grid (10, 12, 10) x 9.6 mm from (-48, -57.6, -48) mm, native "
        f"differs from {files[0]}'s grid (12, 14, 12) x 8 mm from (-48, -56, -48) mm, native; "
        "the files of one dataset need one grid (one voxel vector, one volume for conv nets): "
        "prepare each with the same reference (reference=mni152 or reference=<NIfTI>)"]


def test_a_reference_nifti_is_the_grid_and_its_own_grid_changes_nothing(
        two_grids: tuple[Path, Path], tmp_path: Path) -> None:
    raw = two_grids[0]
    own = raw / "bids/derivatives/masks/sub-CSI1_brainmask.nii.gz"  # subject 1's own grid
    plain, same = tmp_path / "plain.h5", tmp_path / "same.h5"
    prepare_synthetic(raw, plain)
    prepare_synthetic(raw, same, reference=str(own))
    p, s = read_prepared(plain), read_prepared(same)
    assert s.attrs["reference"]["name"] == str(own) and s.attrs["source"]["reference"]
    np.testing.assert_array_equal(p.mask, s.mask)
    np.testing.assert_allclose(s.bold, p.bold, atol=1e-5)  # not resampled: on the grid
    # another grid: a 10 mm box; the interpolation asked for is recorded
    grid = tmp_path / "grid10.nii.gz"
    affine = np.diag([10.0, 10.0, 10.0, 1.0])
    affine[:3, 3] = -50.0
    nib.save(nib.Nifti1Image(np.zeros((11, 12, 11), np.uint8), affine), grid)
    other = tmp_path / "other.h5"
    prepare_synthetic(raw, other, reference=str(grid), reference_interpolation="continuous")
    o = read_prepared(other)
    assert o.mask.shape == (11, 12, 11) and np.allclose(o.affine, affine)
    assert o.attrs["reference"]["interpolation"] == "continuous"
    assert np.isfinite(o.bold).all() and o.bold.shape[0] == p.bold.shape[0]


def test_bad_references_are_one_line(two_grids: tuple[Path, Path], tmp_path: Path) -> None:
    bids = two_grids[0] / "bids"
    with pytest.raises(InputError, match=r"^mni153: reference grid not found: give null, "
                                         r"mni152 or the path of a NIfTI image$"):
        BidsSource(bids, mask=MASK, reference="mni153")
    with pytest.raises(InputError, match=r"^reference_interpolation: unknown interpolation "
                                         r"'cubic'; valid: continuous, linear, nearest$"):
        BidsSource(bids, mask=MASK, reference="mni152", reference_interpolation="cubic")
    with pytest.raises(InputError, match=r"^reference_resolution_mm: 2.5: "):
        load_reference("mni152", 2.5)
    flat = tmp_path / "flat.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((4, 5), np.uint8), np.eye(4)), flat)
    with pytest.raises(InputError, match=r"flat.nii.gz: a reference grid is a 3D or 4D image, "
                                         r"got shape \(4, 5\)$"):
        load_reference(flat)
    # a 4D run as the reference: its first three axes are the grid
    run = next(bids.rglob("*_bold.nii.gz"))
    assert load_reference(run).shape == nib.load(run).shape[:3]
    with pytest.raises(InputError, match=r"^reference: give a reference grid or target_shape"):
        BidsSource(bids, mask=MASK, reference="mni152", target_shape=[8, 8, 8])
    # asked for at the top level but not reaching the source (a reader config without the key)
    source = BidsSource(bids, mask=MASK)
    with pytest.raises(InputError, match=r"^reference: 'mni152' asked for, but source bids was "
                                         r"not given it; set source.reader.reference$"):
        prepare_dataset(source, tmp_path / "x.h5", stimuli_root=None, image_size=8, labels={},
                        config={"reference": "mni152"})
    assert not (tmp_path / "x.h5").exists()
