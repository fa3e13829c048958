"""Brain geometry for the brain generator: the MNI152 mask and grey-matter map nilearn ships in its
package data (no download), resampled to the configured grid, and the visual regions.

Why MNI space: the regions can then be placed at literature MNI coordinates, and a subject's
misregistration is a small shift of its maps against that common grid, as after an imperfect
normalisation.
"""

from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
from scipy.ndimage import gaussian_filter

# The grid is centred here (MNI mm): the middle of the MNI152 brain's bounding box.
BRAIN_CENTRE_MM = np.array([0.0, -18.0, 14.0])


def grid_affine(grid: tuple[int, int, int], voxel_mm: tuple[float, float, float]) -> np.ndarray:
    """RAS affine of an axis-aligned grid centred on the brain, in MNI mm."""
    affine = np.diag([*map(float, voxel_mm), 1.0])
    affine[:3, 3] = BRAIN_CENTRE_MM - np.asarray(voxel_mm) * (np.asarray(grid) - 1) / 2
    return affine


def _resampled(img: object, grid: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    from nilearn.image import resample_img

    img = nib.Nifti1Image(np.asarray(img.dataobj, np.float32), img.affine)
    with warnings.catch_warnings():  # partial volume of a binary mask is what we want here
        warnings.simplefilter("ignore", UserWarning)
        out = resample_img(img, target_affine=affine, target_shape=grid,
                           interpolation="continuous", force_resample=True, copy_header=True)
    return np.nan_to_num(np.asarray(out.dataobj, np.float64))


def mni_mask_and_gm(grid: tuple[int, int, int], affine: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Brain mask (partial volume >= 0.5) and grey-matter probability on the grid."""
    from nilearn.datasets import load_mni152_brain_mask, load_mni152_gm_template

    mask = _resampled(load_mni152_brain_mask(resolution=2), grid, affine) >= 0.5
    gm = _resampled(load_mni152_gm_template(resolution=2), grid, affine)
    return mask, np.clip(gm, 0.0, 1.0) * mask


def anatomy(rng: np.random.Generator, mask: np.ndarray, gm: np.ndarray,
            baseline: float) -> np.ndarray:
    """EPI-like baseline: grey matter brighter than white, smooth texture, median = baseline
    inside the brain (the real sample volumes are median-scaled to 10000)."""
    texture = gaussian_filter(rng.standard_normal(mask.shape), 1.0)
    texture /= texture[mask].std() + 1e-12
    anat = (0.8 + 0.4 * gm) * (1 + 0.03 * texture)
    anat = np.where(mask, anat, 0.0)
    return anat * baseline / np.median(anat[mask])


def voxel_mm(affine: np.ndarray, grid: tuple[int, int, int]) -> np.ndarray:
    """(X, Y, Z, 3) MNI coordinates of every voxel centre."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in grid], indexing="ij"), axis=-1)
    return idx @ affine[:3, :3].T + affine[:3, 3]


def roi_weights(coords: np.ndarray, centres: dict[str, tuple[float, float, float]],
                sigma_mm: float, cutoff: float, shift_mm: np.ndarray, mask: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian weight of each voxel in its nearest visual region, exactly 0 below ``cutoff``
    (so outside the regions no stimulus variance can exist), and the region index (-1 none).

    Regions are bilateral: each named centre and its mirror across x = 0, moved by the subject's
    misregistration ``shift_mm``."""
    weights = np.zeros(mask.shape)
    label = np.full(mask.shape, -1, np.int16)
    for k, centre in enumerate(centres.values()):
        for side in (1.0, -1.0):
            c = np.array([side * centre[0], centre[1], centre[2]]) + shift_mm
            w = np.exp(-((coords - c) ** 2).sum(-1) / (2 * sigma_mm ** 2))
            better = (w > weights) & (w >= cutoff) & mask
            weights[better], label[better] = w[better], k
    return weights, label


# BOLD5000's ROI names (release 1: LHEarlyVis, RHLOC, ...); FFA has no release ROI and keeps ours.
ROI_FILE_NAMES = {"EVC": "EarlyVis"}


def roi_masks(label: np.ndarray, coords: np.ndarray, shift_mm: np.ndarray,
              regions: list[str]) -> dict[str, np.ndarray]:
    """One subject's localizer-style ROI masks: ``LH``/``RH`` + the BOLD5000 ROI name of each
    region (its voxels, split at the subject's midline), and their union ``visual``, exactly the
    voxels that carry planted stimulus variance. Written as ``sub-CSI{n}_mask-{name}.nii.gz``,
    the name pattern the ROI source checks ROI files against."""
    left = coords[..., 0] < shift_mm[0]
    out = {}
    for k, region in enumerate(regions):
        name = ROI_FILE_NAMES.get(region, region)
        out[f"LH{name}"] = (label == k) & left
        out[f"RH{name}"] = (label == k) & ~left
    out["visual"] = label >= 0
    return out
