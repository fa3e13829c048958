"""One validation pass over a prepared HDF5 file before anything trains on it.

Why: ``check_format`` trusts names and the version attribute. A file edited by hand, written by
another tool or damaged on disk then failed deep inside training: a bold/mask voxel count that
disagrees or an out-of-range ``image_index`` gave tracebacks, and NaN rows never reached the NaN
guard because the metrics died first. This pass checks shapes, dtypes, label and index ranges,
and the finiteness of every BOLD row (read in chunks of about 64 MiB, so memory stays flat), and
stops at the first problem with one line naming the dataset and the row.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from bold5000_ae.data.hdf5_format import TRIAL_COLUMNS
from bold5000_ae.utils.bold_values import ABSURD_VALUE as ABSURD  # prepare's bound
from bold5000_ae.utils.errors import InputError

CHUNK_BYTES = 64 * 2**20
FLOAT_DTYPES = ("float16", "float32", "float64")
LABELS = (-1, 0, 1)


def check_bold_dtype(dtype: str) -> None:
    """Refuse a storage dtype that would round BOLD (integers) or is not a float NumPy knows:
    z-scored BOLD lies around ±5, so ``int8`` stored it as a handful of integers."""
    try:
        kind = np.dtype(str(dtype))
    except TypeError:
        raise InputError("bold_dtype", f"{dtype!r} is not a NumPy dtype; use one of "
                                       f"{', '.join(FLOAT_DTYPES)}") from None
    if kind.name not in FLOAT_DTYPES:
        raise InputError("bold_dtype", f"{kind.name} would round or wrap the BOLD values "
                                       f"(lossy); use one of {', '.join(FLOAT_DTYPES)}")


def _fail(path: Path, dataset: str, problem: str) -> InputError:
    return InputError(path, f"/{dataset}: {problem}")


def _shapes(h5: h5py.File, path: Path) -> tuple[int, int]:
    bold, mask, affine = h5["bold"], h5["mask"], h5["affine"]
    if bold.ndim != 2 or bold.dtype.kind != "f":
        raise _fail(path, "bold", f"expected a 2D float array (samples, voxels), found "
                                  f"{bold.ndim}D {bold.dtype}")
    if mask.ndim != 3 or mask.dtype != bool:
        raise _fail(path, "mask", f"expected a 3D bool array, found {mask.ndim}D {mask.dtype}")
    n, v = bold.shape
    if int(mask[()].sum()) != v:
        raise _fail(path, "mask", f"holds {int(mask[()].sum())} voxels but /bold rows have {v}")
    if affine.shape != (4, 4):
        raise _fail(path, "affine", f"expected a 4x4 matrix, found shape {affine.shape}")
    if not np.isfinite(affine[()]).all():
        raise _fail(path, "affine", "holds NaN or Inf values; expected a finite 4x4 matrix")
    images = h5["images"]
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise _fail(path, "images", f"expected uint8 (M, H, W, 3), found {images.dtype} "
                                    f"{images.shape}")
    m = images.shape[0]
    for name in ("image_names", "image_present"):
        if h5[name].shape != (m,):
            raise _fail(path, name, f"has {h5[name].shape[0] if h5[name].ndim else 0} rows, "
                                    f"/images has {m}")
    return n, m


def _trials(h5: h5py.File, path: Path, n: int, m: int) -> None:
    for name in TRIAL_COLUMNS:
        column = h5["trials"][name]
        if column.shape != (n,):
            raise _fail(path, f"trials/{name}", f"has shape {column.shape}, /bold has {n} rows")
        if np.dtype(TRIAL_COLUMNS[name]).kind == "i" and column.dtype.kind not in "iu":
            raise _fail(path, f"trials/{name}", f"expected integers, found {column.dtype}")
    labels = h5["trials/label"][()]
    bad = np.flatnonzero(~np.isin(labels, LABELS))
    if len(bad):
        raise _fail(path, "trials/label", f"row {bad[0]}: label {labels[bad[0]]} is not one of "
                                          f"{LABELS} ({len(bad)} rows out of range)")
    index = h5["trials/image_index"][()]
    bad = np.flatnonzero((index < -1) | (index >= m))
    if len(bad):
        raise _fail(path, "trials/image_index", f"row {bad[0]}: {index[bad[0]]} is outside "
                                                f"-1..{m - 1} (/images has {m} rows; "
                                                f"{len(bad)} rows out of range)")


def _finite(h5: h5py.File, path: Path, n: int) -> None:
    """Every value finite and within ±ABSURD (as prepare refuses them: one voxel at 1e30 made
    ``val/loss`` inf and ``val/r2`` NaN in a run that still said ``finished``), and not one
    constant over the whole file (nothing to reconstruct; R² is undefined). Each block's min
    and max decide (NaN and Inf show there) without a copy of the block; the offending row is
    looked for only when one is off."""
    bold = h5["bold"]
    step = max(1, CHUNK_BYTES // max(1, bold.shape[1] * bold.dtype.itemsize))
    low, high = np.inf, -np.inf
    for start in range(0, n, step):
        block = bold[start:start + step]
        block_low, block_high = float(block.min()), float(block.max())
        if not (np.isfinite(block_low) and np.isfinite(block_high)):
            row = start + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
            raise _fail(path, "bold", f"row {row}: NaN or Inf values (prepare the data again; "
                                      "a corrupted copy?)")
        if max(-block_low, block_high) > ABSURD:
            row, col = (int(i) for i in np.argwhere(np.abs(block) > ABSURD)[0])
            raise _fail(path, "bold", f"row {start + row}: value {float(block[row, col]):.3g} "
                                      f"(voxel {col}) is beyond ±{ABSURD:.0e}, as prepare "
                                      "refuses; prepare the data again (a corrupted copy?)")
        low, high = min(low, block_low), max(high, block_high)
    if low == high:
        raise _fail(path, "bold", f"every value is {low:g}: a constant file has nothing to "
                                  "reconstruct and R² is undefined; prepare the data again")


def validate_prepared(h5: h5py.File, path: str | Path) -> None:
    """Shapes, dtypes, ranges and finiteness of an open prepared file, or one InputError."""
    path = Path(path)
    n, m = _shapes(h5, path)
    if n == 0:
        raise _fail(path, "bold", "holds no samples")
    _trials(h5, path, n, m)
    _finite(h5, path, n)
