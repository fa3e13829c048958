"""One grid for several subjects: every run and the mask resampled onto a reference.

Why: a dataset of several files (one per subject, ``data.path=[a.h5,b.h5]``) serves one voxel
grid, and a volume net (conv3d) one array shape, so files prepared on their subjects' own grids
cannot be combined. ``reference`` names the grid every volume source resamples onto before
masking and cleaning:

- ``mni152``: nilearn's packaged MNI152 brain mask (``load_mni152_brain_mask``; nothing is
  downloaded) at ``resolution_mm`` (whole mm; nilearn resamples its 1 mm template). Its brain
  mask is intersected with the source's own mask;
- the path of a NIfTI image: its shape (first three axes) and affine are the grid.

Runs are resampled with nilearn's ``resample_to_img`` (``interpolation``: linear, the default as in
FSL's applywarp; continuous, nilearn's 3rd-order spline, sharper and 4.6 times the CPU; or
nearest), in float32 (nilearn would store int16 scans interpolated as float16); masks with nearest
neighbour. An image already on the grid (e.g. fMRIPrep MNI outputs with one of their runs as the
reference) is not resampled. CPU per volume of 88 x 88 x 66 onto MNI152 2 mm (99 x 117 x 95):
continuous 330 ms, linear 72 ms, nearest 26 ms, so 64, 14 and 5 s per 194-volume run beside the 7.5
s of cleaning it (docs/scaling.md). Resampling is not registration: runs line up through their
affines only, so a cross-subject analysis wants runs already in template space (fMRIPrep's MNI
outputs), which the reference then puts on one array. The reference (name, shape, affine,
interpolation) is recorded in the prepared file's ``reference`` attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from nilearn.image import resample_to_img

from bold5000_ae.prepare.sources.nifti_io import header_grid, same_grid
from bold5000_ae.utils.errors import InputError

MNI152 = "mni152"
INTERPOLATIONS = ("continuous", "linear", "nearest")


@dataclass(frozen=True, eq=False)
class ReferenceGrid:
    """The grid (shape, affine) runs are resampled onto, and the template's brain mask."""

    name: str
    shape: tuple[int, int, int]
    affine: np.ndarray
    interpolation: str = "linear"
    brain_mask: np.ndarray | None = None

    @property
    def target(self) -> nib.Nifti1Image:
        return nib.Nifti1Image(np.zeros(self.shape, np.uint8), self.affine)

    def resample(self, img: nib.Nifti1Image) -> nib.Nifti1Image:
        """A 3D or 4D image on the reference grid, in float32."""
        data = np.asarray(img.dataobj, dtype=np.float32)
        header = img.header.copy()
        header.set_data_dtype(np.float32)
        if same_grid(img.shape, img.affine, self.shape, self.affine):
            return nib.Nifti1Image(data, self.affine, header)  # on the grid already: as it is
        return resample_to_img(nib.Nifti1Image(data, img.affine, header), self.target,
                               interpolation=self.interpolation, force_resample=True,
                               copy_header=True)

    def mask(self, img: nib.Nifti1Image) -> np.ndarray:
        """A mask image on the reference grid (nearest neighbour), within the brain mask."""
        binary = nib.Nifti1Image((np.asanyarray(img.dataobj) > 0).astype(np.uint8), img.affine)
        on_grid = resample_to_img(binary, self.target, interpolation="nearest",
                                  force_resample=True, copy_header=True)
        return self.within_brain(np.asanyarray(on_grid.dataobj) > 0)

    def within_brain(self, mask: np.ndarray) -> np.ndarray:
        return mask & self.brain_mask if self.brain_mask is not None else mask

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape),
                "affine": np.round(self.affine, 6).tolist(),
                "voxel_size_mm": np.round(np.linalg.norm(self.affine[:3, :3], axis=0),
                                          6).tolist(),
                "interpolation": self.interpolation,
                "brain_mask": ("nilearn load_mni152_brain_mask (T1 template > 0.2)"
                               if self.brain_mask is not None else None)}


def load_reference(reference: str | Path | None, resolution_mm: int | None = 2,
                   interpolation: str = "linear") -> ReferenceGrid | None:
    """``None`` (keep the source's grid), ``mni152`` or a NIfTI path → the grid."""
    if reference is None or str(reference).strip().lower() in ("", "none", "null"):
        return None
    if interpolation not in INTERPOLATIONS:
        raise InputError("reference_interpolation", f"unknown interpolation {interpolation!r}; "
                                                    f"valid: {', '.join(INTERPOLATIONS)}")
    if str(reference).strip().lower() == MNI152:
        if (isinstance(resolution_mm, bool) or not isinstance(resolution_mm, int | np.integer)
                or resolution_mm < 1):
            raise InputError("reference_resolution_mm", f"{resolution_mm!r}: the MNI152 grid "
                             "takes a whole number of mm >= 1 (nilearn resamples its 1 mm "
                             "template)")
        from nilearn.datasets import load_mni152_brain_mask  # packaged with nilearn

        img = load_mni152_brain_mask(resolution=int(resolution_mm))
        brain = np.asanyarray(img.dataobj) > 0
        return ReferenceGrid(f"{MNI152} ({int(resolution_mm)} mm)", tuple(brain.shape),
                             np.asarray(img.affine, float), interpolation, brain)
    path = Path(reference)
    if not path.is_file():
        raise InputError(path, "reference grid not found: give null, mni152 or the path of a "
                               "NIfTI image")
    shape, affine = header_grid(path)  # the header only: a 4D run may serve as the reference
    if len(shape) not in (3, 4):
        raise InputError(path, f"a reference grid is a 3D or 4D image, got shape {shape}")
    return ReferenceGrid(str(path), shape[:3], np.asarray(affine, float), interpolation)
