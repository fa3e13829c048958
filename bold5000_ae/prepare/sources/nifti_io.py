"""NIfTI reading shared by the volume sources, with bad input reported as one InputError line.

Why a module: every NIfTI source must load eagerly (a truncated .gz should fail at prepare time,
naming the file), refuse NaN/Inf inside the mask, and refuse a mask on another grid; doing it in
one place keeps the messages identical.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import nibabel as nib
import numpy as np

from bold5000_ae.utils.bold_values import ABSURD_VALUE
from bold5000_ae.utils.errors import InputError

GRID_ATOL_MM = 1e-3


def load_nifti(path: str | Path, ndim: int | None = None) -> nib.Nifti1Image:
    """Load a NIfTI fully (so truncation shows now, not mid-training) and check its rank."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        img = nib.load(path)
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, zlib.error, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise InputError(path, f"truncated or unreadable NIfTI ({exc})") from None
    if ndim is not None and data.ndim != ndim:
        raise InputError(path, f"expected a {ndim}D image, got shape {data.shape}")
    return nib.Nifti1Image(data, img.affine, img.header)


def header_grid(path: str | Path) -> tuple[tuple[int, ...], np.ndarray]:
    """Shape and affine from the header only (cheap: no voxel data is read)."""
    try:
        img = nib.load(path)
    except (OSError, EOFError, ValueError, nib.filebasedimages.ImageFileError) as exc:
        raise InputError(path, f"unreadable NIfTI header ({exc})") from None
    return tuple(int(n) for n in img.shape), img.affine


def same_grid(shape_a: tuple[int, ...], affine_a: np.ndarray, shape_b: tuple[int, ...],
              affine_b: np.ndarray) -> bool:
    return tuple(shape_a[:3]) == tuple(shape_b[:3]) and np.allclose(affine_a, affine_b,
                                                                    atol=GRID_ATOL_MM)




def check_finite(data: np.ndarray, path: str | Path, mask: np.ndarray | None = None) -> None:
    """Refuse NaN/Inf or absurdly large values (inside ``mask`` when given: outside-brain NaNs
    are harmless), naming the first frame (4D) that holds one."""
    values = data[mask] if mask is not None else data
    where = " inside the mask" if mask is not None else ""
    for test, what in ((lambda v: ~np.isfinite(v), "NaN or Inf voxel values"),
                       (lambda v: np.abs(v) > ABSURD_VALUE, f"voxel values beyond ±{ABSURD_VALUE:g}"
                                                            " (corrupted data?)")):
        bad = test(values)
        count = int(bad.sum())
        if count:
            frame = ""
            if data.ndim == 4:
                frames = bad.reshape(-1, data.shape[-1]).any(axis=0)
                frame = f", first in frame {int(np.flatnonzero(frames)[0])}"
            raise InputError(path, f"{count} {what}{where}{frame}")


def grid_difference(shape_a: tuple[int, ...], affine_a: np.ndarray, shape_b: tuple[int, ...],
                    affine_b: np.ndarray) -> str:
    """How two grids differ, in words: the shapes, or (same shape) the affines, with the voxel
    sizes and origins that differ, so "grid (12, 14, 12) differs from (12, 14, 12)" never
    happens."""
    if tuple(shape_a[:3]) != tuple(shape_b[:3]):
        return f"shape {tuple(shape_a[:3])} against {tuple(shape_b[:3])}"
    a, b = np.asarray(affine_a, float), np.asarray(affine_b, float)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return "same shape, but an affine holds NaN or Inf values"
    size_a, size_b = np.linalg.norm(a[:3, :3], axis=0), np.linalg.norm(b[:3, :3], axis=0)
    parts = []
    if not np.allclose(size_a, size_b, atol=GRID_ATOL_MM):
        parts.append(f"voxel size {_mm(size_a)} against {_mm(size_b)} mm")
    if not np.allclose(a[:3, 3], b[:3, 3], atol=GRID_ATOL_MM):
        parts.append(f"origin {_mm(a[:3, 3])} against {_mm(b[:3, 3])} mm")
    if not parts:
        parts.append(f"orientation differs (largest affine difference "
                     f"{float(np.abs(a - b).max()):g})")
    return f"same shape {tuple(shape_a[:3])}, but the affines differ: {'; '.join(parts)}"


def _mm(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def load_mask(path: str | Path, shape: tuple[int, ...], affine: np.ndarray,
              what: str) -> np.ndarray:
    """A boolean mask that must lie on the data grid (``what`` names the data in the error)."""
    img = load_nifti(path, ndim=3)
    if not same_grid(img.shape, img.affine, shape, affine):
        raise InputError(path, f"mask grid {img.shape} does not match the grid {shape[:3]} of "
                               f"{what}: {grid_difference(img.shape, img.affine, shape, affine)}")
    mask = np.asanyarray(img.dataobj) > 0
    if not mask.any():
        raise InputError(path, "mask is empty")
    return mask
