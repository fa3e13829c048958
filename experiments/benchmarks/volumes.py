"""The volumes both sides of a data benchmark read: one prepared HDF5 file and seed-style files.

Two sources: the 15 real 88 x 88 x 66 BOLD5000 sample volumes tiled to ``n`` (honest gzip
ratios for the seed's ``.nii.gz`` files; needs nibabel and ../shared/bold5000), or a numpy-only
synthetic generator (any grid; what the GPU machine uses). The mask is every voxel that is
non-zero in any volume, so the masked HDF5 rows reproduce the seed's volumes exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bold5000_ae.data.hdf5_format import PreparedData, write_prepared

SAMPLE_VOLUMES = (Path(__file__).resolve().parents[3] / "shared" / "bold5000"
                  / "sample_volumes")


def real_volumes(n: int, folder: Path = SAMPLE_VOLUMES) -> tuple[np.ndarray, np.ndarray]:
    """``n`` volumes (n, X, Y, Z) float32 tiled from the real samples, and their affine."""
    import nibabel as nib

    files = sorted(folder.glob("*.nii.gz"))
    if not files:
        raise FileNotFoundError(f"no sample volumes in {folder}")
    first = nib.load(files[0])
    base = np.stack([np.asarray(nib.load(f).dataobj, dtype=np.float32) for f in files])
    return base[np.arange(n) % len(base)], first.affine


def synthetic_volumes(n: int, grid: tuple[int, int, int], seed: int = 0,
                      rank: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``n`` brain-like volumes: an ellipsoid mask (~38% of the grid), smooth low-rank
    patterns around a baseline of 10000 (the real data's median scaling) plus noise."""
    rng = np.random.default_rng(seed)
    axes = [np.linspace(-1, 1, s, dtype=np.float32) for s in grid]
    xx, yy, zz = np.meshgrid(*axes, indexing="ij")
    mask = (xx / 0.9) ** 2 + (yy / 0.9) ** 2 + (zz / 0.9) ** 2 <= 1.0
    freq = np.sqrt(sum(np.fft.fftfreq(s)[idx] ** 2 for s, idx in zip(
        grid, np.ix_(*[np.arange(s) for s in grid]), strict=True)))
    lowpass = np.exp(-(freq / 0.08) ** 2)
    maps = np.stack([np.fft.ifftn(np.fft.fftn(rng.standard_normal(grid)) * lowpass).real
                     for _ in range(rank)]).reshape(rank, -1)[:, mask.ravel()]
    maps /= maps.std(axis=1, keepdims=True)
    coef = rng.standard_normal((n, rank)).astype(np.float32)
    vox = 10000 + 200 * coef @ maps.astype(np.float32)
    vox += 100 * rng.standard_normal(vox.shape, dtype=np.float32)
    out = np.zeros((n, mask.size), np.float32)
    out[:, mask.ravel()] = vox
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    return out.reshape(n, *grid), affine


def write_hdf5(path: Path, volumes: np.ndarray, affine: np.ndarray,
               bold_dtype: str = "float32", per_run: int = 111) -> np.ndarray:
    """The volumes as a prepared file (masked rows); returns the mask."""
    mask = (volumes != 0).any(axis=0)
    n = len(volumes)
    run = np.arange(n) // per_run
    trials = pd.DataFrame({
        "image_index": np.full(n, -1), "label": np.full(n, -1), "subject": np.ones(n, int),
        "session": np.ones(n, int), "run": run + 1, "trial": (np.arange(n) % per_run) // 3 + 1,
        "offset_s": np.full(n, 6.0), "repeat_index": np.zeros(n, int)})
    data = PreparedData(bold=volumes[:, mask], mask=mask, affine=affine, trials=trials,
                        images=np.zeros((1, 4, 4, 3), np.uint8), image_names=["none"],
                        image_present=np.zeros(1, bool), attrs={"source": "benchmark"})
    write_prepared(path, data, bold_dtype=bold_dtype)
    return mask


def write_seed_files(folder: Path, volumes: np.ndarray, affine: np.ndarray) -> list[Path]:
    """One gzipped NIfTI per volume, the layout of the preprocessed-volume release."""
    import nibabel as nib

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, vol in enumerate(volumes):
        path = folder / f"volume{k:05d}.nii.gz"
        nib.save(nib.Nifti1Image(vol, affine), path)
        paths.append(path)
    return paths
