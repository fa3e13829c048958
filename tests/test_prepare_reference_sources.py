"""The reference grid for the other volume sources (preprocessed volumes, GLMsingle betas):
their own grid as the reference changes nothing; another grid gives that grid. A ROI source has
no grid: a reference asked for is refused, not ignored."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import release_tree as rt

from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.betas import BetasSource
from bold5000_ae.prepare.sources.roi import RoiSource
from bold5000_ae.prepare.sources.volumes import VolumesSource
from bold5000_ae.utils.errors import InputError


def _grid(path: Path, shape: tuple[int, int, int], affine: np.ndarray) -> str:
    nib.save(nib.Nifti1Image(np.zeros(shape, np.uint8), affine), path)
    return str(path)


def test_volumes_onto_their_own_grid_and_another(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    rt.write_stimuli(tree)
    rt.write_volumes(tree)
    plain = VolumesSource(tree)
    unit = plain.units()[0]
    own = VolumesSource(tree, reference=_grid(tmp_path / "own.nii.gz", (12, 12, 10), np.eye(4)))
    np.testing.assert_array_equal(own.mask_and_affine()[0], plain.mask_and_affine()[0])
    np.testing.assert_allclose(own.load(unit).bold, plain.load(unit).bold, rtol=1e-4)
    coarse = np.diag([1.5, 1.5, 1.5, 1.0])
    other = VolumesSource(tree, reference=_grid(tmp_path / "c.nii.gz", (8, 8, 7), coarse),
                          reference_interpolation="nearest")
    mask, affine = other.mask_and_affine()
    assert mask.shape == (8, 8, 7) and np.allclose(affine, coarse) and mask.any()
    assert other.load(unit).bold.shape[1] == mask.sum()
    assert other.describe()["reference"]["interpolation"] == "nearest"


def test_betas_onto_their_own_grid_and_another(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    rt.write_stimuli(tree)
    rt.write_betas(tree)
    plain = BetasSource(tree)
    unit = plain.units()[0]
    own = BetasSource(tree, reference=_grid(tmp_path / "own.nii.gz", rt.GRID, rt.AFFINE))
    np.testing.assert_array_equal(own.mask_and_affine()[0], plain.mask_and_affine()[0])
    np.testing.assert_allclose(own.load(unit).bold, plain.load(unit).bold, atol=1e-4)
    coarse = np.diag([3.0, 3.0, 3.0, 1.0])
    other = BetasSource(tree, reference=_grid(tmp_path / "c.nii.gz", (4, 5, 4), coarse))
    mask, _ = other.mask_and_affine()
    assert mask.shape == (4, 5, 4) and mask.any()
    bold = other.load(unit).bold
    assert bold.shape[1] == mask.sum() and np.isfinite(bold).all()


def test_a_reference_for_a_roi_source_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "BOLD5000_release1"
    rt.write_stimuli(tree)
    rt.write_release1(tree, "mat")
    with pytest.raises(InputError, match=r"^reference: 'mni152' asked for, but source roi has "
                                         r"no voxel grid to resample$"):
        prepare_dataset(RoiSource(tree), tmp_path / "roi.h5", stimuli_root=None, image_size=8,
                        labels={}, config={"reference": "mni152"})
    assert not (tmp_path / "roi.h5").exists()
