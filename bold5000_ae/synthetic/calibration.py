"""Noise statistics computed the same way on real sample volumes and on synthetic ones.

Why one estimator for both: the real-vs-synthetic table in docs/synthetic.md is only a
comparison if each number comes from the same code on the same kind of input, a short stack of
volumes (the 15 real ones are trial volumes at onset + 4, 6 and 8 s, so consecutive triples are
one TR apart) and a brain mask. fmrisim's ``calc_noise`` wants a whole run and a background
outside the brain; the real sample has neither (15 volumes, zero outside the brain), hence this.

- SNR: mean brain intensity over the standard deviation of the difference of volumes one TR
  apart, divided by sqrt(2) (the NEMA difference method; the difference cancels anatomy).
- SFNR: median over brain voxels of mean over time / standard deviation over time.
- spatial lag-1 autocorrelation: correlation of residual (volume minus the stack mean) with its
  neighbour one voxel along each axis, both in the brain, averaged over the three axes.
- FWHM (mm): the Gaussian kernel that yields that lag-1 correlation on white noise,
  rho = exp(-1 / (4 s^2)), FWHM = 2 sqrt(2 ln 2) s * voxel size.
- temporal lag-1 autocorrelation: correlation over voxels of residuals one TR apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def spatial_lag1(residuals: np.ndarray, mask: np.ndarray) -> tuple[float, list[float]]:
    """Mean and per-axis lag-1 correlation of (n, X, Y, Z) residuals inside ``mask``."""
    per_axis = []
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        both = mask[tuple(lo)] & mask[tuple(hi)]
        a = residuals[(slice(None), *lo)][:, both]
        b = residuals[(slice(None), *hi)][:, both]
        per_axis.append(_corr(a, b))
    return float(np.mean(per_axis)), per_axis


def fwhm_from_lag1(rho: float, voxel_mm: float) -> float:
    """FWHM (mm) of the Gaussian kernel giving lag-1 correlation ``rho`` on white noise."""
    if not 0.0 < rho < 1.0:
        return float("nan")
    return float(FWHM_PER_SIGMA * np.sqrt(-1.0 / (4.0 * np.log(rho))) * voxel_mm)


def noise_stats(volumes: np.ndarray, mask: np.ndarray, voxel_mm: Sequence[float],
                adjacent: Sequence[tuple[int, int]]) -> dict[str, float]:
    """The table's statistics for ``volumes`` (n, X, Y, Z); ``adjacent`` lists index pairs of
    volumes one TR apart (used for SNR and temporal lag-1)."""
    volumes = np.asarray(volumes, np.float64)
    mean = volumes.mean(axis=0)
    residuals = volumes - mean
    diffs = np.stack([volumes[j] - volumes[i] for i, j in adjacent])[:, mask]
    snr = float(mean[mask].mean() / (diffs.std() / np.sqrt(2.0)))
    std_t = residuals[:, mask].std(axis=0, ddof=1)
    sfnr = float(np.median(mean[mask] / np.maximum(std_t, 1e-12)))
    lag1, per_axis = spatial_lag1(residuals, mask)
    temporal = float(np.mean([_corr(residuals[i][mask], residuals[j][mask])
                              for i, j in adjacent]))
    return {"snr": snr, "sfnr": sfnr, "spatial_lag1": lag1,
            "fwhm_mm": float(np.mean([fwhm_from_lag1(r, v)
                                      for r, v in zip(per_axis, voxel_mm)])),
            "temporal_lag1": temporal, "n_volumes": int(len(volumes)),
            "n_voxels": int(mask.sum())}


def triple_pairs(n_volumes: int, per_trial: int = 3) -> list[tuple[int, int]]:
    """Pairs one TR apart in a stack of trials sampled at onset + 4, 6, 8 s (TR 2 s)."""
    return [(i, i + 1) for i in range(n_volumes - 1) if (i + 1) % per_trial]


def load_real_sample(folder: str | Path, target: nib.Nifti1Image | None = None
                     ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """The 15 real volumes (optionally resampled onto ``target``'s grid), a brain mask and the
    voxel size. The mask keeps voxels above 20% of the robust maximum in every volume, which
    drops the zero background and the interpolated rim."""
    from nilearn.image import resample_to_img

    paths = sorted(Path(folder).glob("CSI1_session1_run1_volume*.nii.gz"),
                   key=lambda p: int(p.name.split("volume")[1].split(".")[0]))
    if not paths:
        raise FileNotFoundError(f"no CSI1_session1_run1_volume*.nii.gz under {folder}")
    imgs = [nib.load(p) for p in paths]
    if target is not None:
        imgs = [resample_to_img(i, target, interpolation="continuous", force_resample=True,
                                copy_header=True) for i in imgs]
    data = np.stack([np.asarray(i.dataobj, np.float64) for i in imgs])
    level = 0.2 * np.percentile(data[data > 0], 99)
    mask = (data > level).all(axis=0)
    zooms = tuple(float(z) for z in imgs[0].header.get_zooms()[:3])
    return data, mask, zooms


def resampled_real(folder: str | Path, voxel_mm: float
                   ) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """The real volumes on an isotropic ``voxel_mm`` grid in their own space (they are not in
    MNI space, so the synthetic grid itself cannot be used; the voxel size is what matters)."""
    first = sorted(Path(folder).glob("CSI1_session1_run1_volume*.nii.gz"))[0]
    ref = nib.load(first)
    zooms = np.asarray(ref.header.get_zooms()[:3], float)
    affine = ref.affine.copy()
    affine[:3, :3] = affine[:3, :3] / zooms * voxel_mm
    shape = tuple(int(np.ceil(n * z / voxel_mm)) for n, z in zip(ref.shape, zooms))
    return load_real_sample(folder, nib.Nifti1Image(np.zeros(shape, np.float32), affine))


def synthetic_sample(root: str | Path, offsets_s: Sequence[float] = (4.0, 6.0, 8.0),
                     trials: int = 5) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """The synthetic volumes matching the real sample: subject 1, session 1, run 1, the first
    ``trials`` trials at onset + ``offsets_s``; and the generator's mask.

    The run is high-pass filtered first (1/128 Hz, mean kept), as the real sample was by its
    preprocessing; without it slow drift, which the real volumes no longer carry, would set the
    statistics."""
    import pandas as pd
    from nilearn.signal import clean

    func = Path(root) / "bids" / "sub-CSI1" / "ses-01" / "func"
    stem = "sub-CSI1_ses-01_task-5000scenes_run-01"
    img = nib.load(func / f"{stem}_bold.nii.gz")
    tr = float(img.header.get_zooms()[3])
    onsets = pd.read_csv(func / f"{stem}_events.tsv", sep="\t")["onset"].to_numpy()[:trials]
    frames = [int(round((o + off) / tr)) for o in onsets for off in offsets_s]
    mask_img = Path(root) / "bids" / "derivatives" / "masks" / "sub-CSI1_brainmask.nii.gz"
    mask = np.asarray(nib.load(mask_img).dataobj) > 0
    series = np.asarray(img.dataobj, np.float64)[mask].T  # (frames, voxels)
    filtered = clean(series, detrend=False, standardize=None, high_pass=1 / 128, t_r=tr)
    data = np.zeros((len(frames), *mask.shape))
    data[:, mask] = filtered[frames] + series.mean(axis=0)
    return data, mask, tuple(float(z) for z in img.header.get_zooms()[:3])


def compare(real_folder: str | Path, synthetic_root: str | Path) -> dict[str, dict]:
    """Real (on the synthetic voxel size) and synthetic statistics, and their ratio."""
    syn, syn_mask, syn_zooms = synthetic_sample(synthetic_root)
    real, real_mask, real_zooms = resampled_real(real_folder, float(np.mean(syn_zooms)))
    pairs = triple_pairs(len(syn))
    a = noise_stats(real, real_mask, real_zooms, pairs)
    b = noise_stats(syn, syn_mask, syn_zooms, pairs)
    return {"real": a, "synthetic": b,
            "ratio": {k: b[k] / a[k] for k in a if a[k] and not k.startswith("n_")}}
