"""A noise ceiling from repeated images, for data without a noise-free twin (real BOLD5000).

The formula is the one NSD (Allen et al. 2022) and GLMsingle (Prince et al. 2022) use, and the
one BOLD5000's GLMsingle release reports per subject. Per voxel, with the responses z-scored
over all rows first (so the total variance is 1):

    noise_sd  = sqrt( mean over repeated images i of var_r(x_ir) )       (ddof = 1)
    signal_sd = sqrt( max(0, 1 - noise_sd^2) )
    ncsnr     = signal_sd / noise_sd
    NC%       = 100 * ncsnr^2 / (ncsnr^2 + 1 / n)

where n is the number of trials averaged in the target a model predicts (1 for a single
trial; BOLD5000 shows 113 images up to 4 times, so a 4-repeat average has n = 4). NC% is the
percentage of the target's variance that is reproducible signal: for n = 1 it is the
counterpart of the twin's ceiling R² (bold5000_ae/evaluation/ceiling.py) in per cent.

Why per-volume grouping: a prepared sample is one volume (onset + 4, 6 or 8 s), and a model
reconstructs volumes, so the repeats of an image are compared at the same volume offset (and
within a subject): the groups are (subject, image, offset). Averaging a trial's volumes first
would estimate the ceiling of a different target (a 3-volume mean); comparing volumes across
offsets would count the HRF's time course as noise. A file prepared with one mean volume per
trial (offset NaN) groups by (subject, image).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bold5000_ae.data.prepared_set import PreparedSet

PREFIX = "noise_ceiling/repeats"
CHUNK_BYTES = 2 ** 27  # float64 rows read at once for the per-voxel variance (128 MiB)
VOXEL_BLOCK = 8192  # voxels per block of the across-repeat variance


@dataclass(frozen=True)
class NoiseCeiling:
    """Per-voxel ncsnr and NC% (NaN where a voxel is constant) and what they rest on."""

    ncsnr: np.ndarray
    nc_percent: np.ndarray
    n_average: int
    n_images: int
    n_repeats: int
    n_groups: int

    @property
    def nc_percent_mean(self) -> float:
        """Mean NC% over voxels: the figure published per subject (mean over a region)."""
        return float(np.nanmean(self.nc_percent))


def nc_percent(ncsnr: np.ndarray, n_average: int = 1) -> np.ndarray:
    """NC% = 100 ncsnr² / (ncsnr² + 1/n): the signal share of an n-trial average."""
    if n_average < 1:
        raise ValueError(f"n_average must be >= 1, got {n_average}")
    s2 = np.asarray(ncsnr, np.float64) ** 2
    return 100.0 * s2 / (s2 + 1.0 / n_average)


def repeat_groups(image_index: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
    """A group code (0, 1, ...) per row: rows showing one image under one condition share it.
    -1 for rows whose group holds a single presentation and for rows with no image (-1)."""
    image_index = np.asarray(image_index)
    keys = pd.DataFrame({"image": image_index})
    if condition is not None:
        keys["condition"] = pd.factorize(pd.Series(np.asarray(condition)).astype(str))[0]
    codes = keys.groupby(list(keys.columns), sort=False).ngroup().to_numpy()
    repeated = (np.bincount(codes)[codes] >= 2) & (image_index >= 0)
    out = np.full(len(codes), -1, np.int64)
    out[repeated] = pd.factorize(codes[repeated])[0]
    return out


def repeat_noise_ceiling(bold: np.ndarray, image_index: np.ndarray, n_average: int = 1, *,
                         condition: np.ndarray | None = None,
                         total_var: np.ndarray | None = None) -> NoiseCeiling:
    """NSD's ncsnr and NC% from ``bold`` (rows x voxels) and each row's image.

    ``condition``: an extra grouping key per row (subject and volume offset; see the module
    docstring), so only rows of one image under one condition count as repeats.
    ``total_var``: each voxel's variance over all rows, when ``bold`` holds only the repeated
    rows (the file reader passes it so it never loads the whole file); by default the variance
    of ``bold`` itself, which is the z-scoring of the formula.
    """
    bold = np.asarray(bold)
    groups = repeat_groups(image_index, condition)
    keep = groups >= 0
    if not keep.any():
        raise ValueError("no image is presented more than once under one condition")
    var = (bold.var(axis=0, dtype=np.float64) if total_var is None
           else np.asarray(total_var, np.float64))
    within, n_g = _within_variance(bold[keep], groups[keep])
    with np.errstate(divide="ignore", invalid="ignore"):
        noise_var = np.where(var > 0, within / var, np.nan)
        signal_sd = np.sqrt(np.maximum(0.0, 1.0 - noise_var))
        ncsnr = signal_sd / np.sqrt(noise_var)
    return NoiseCeiling(ncsnr=ncsnr, nc_percent=nc_percent(ncsnr, n_average),
                        n_average=int(n_average),
                        n_images=int(pd.Series(np.asarray(image_index)[keep]).nunique()),
                        n_repeats=int(n_g.max()), n_groups=int(len(n_g)))


def _within_variance(x: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per voxel, the mean over groups of the across-repeat variance (ddof 1), and the group
    sizes. Rows are sorted by group once; voxels go in blocks so a whole-brain file needs no
    float64 copy of all its repeated rows."""
    order = np.argsort(groups, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(groups[order])) + 1]
    n_g = np.diff(np.r_[starts, len(order)])
    out = np.empty(x.shape[1])
    for lo in range(0, x.shape[1], VOXEL_BLOCK):
        block = x[order, lo:lo + VOXEL_BLOCK].astype(np.float64)
        means = np.add.reduceat(block, starts, axis=0) / n_g[:, None]
        squares = np.add.reduceat((block - np.repeat(means, n_g, axis=0)) ** 2, starts, axis=0)
        out[lo:lo + VOXEL_BLOCK] = (squares / (n_g - 1)[:, None]).mean(axis=0)
    return out, n_g


def repeat_ceiling_metrics(source: Any, rows: np.ndarray | None = None,
                           n_average: int = 1) -> dict[str, float]:
    """``noise_ceiling/repeats/...`` for a prepared file (path) or a set-up BoldDataModule, on
    ``rows`` (default: every row of the file; the ceiling is a property of the data, not of a
    split); {} when no image repeats there."""
    files = PreparedSet(getattr(source, "path", None) or Path(source))
    try:
        trials = files.trials
        rows = np.arange(len(trials)) if rows is None else np.sort(np.asarray(rows))
        table = trials.iloc[rows]
        condition = (table["subject"].astype(str) + "/"
                     # map(str): "nan" for a window mean or a beta (astype(str) keeps NaN)
                     + table["offset_s"].astype(float).round(3).map(str)).to_numpy()
        groups = repeat_groups(table["image_index"].to_numpy(), condition)
        if not (groups >= 0).any():
            return {}
        total_var = _variance(files, rows)
        picked = rows[groups >= 0]
        ceiling = repeat_noise_ceiling(files.read(picked, np.float32),
                                       table["image_index"].to_numpy()[groups >= 0], n_average,
                                       condition=condition[groups >= 0], total_var=total_var)
    finally:
        files.close()
    return {f"{PREFIX}/nc_percent_mean": ceiling.nc_percent_mean,
            f"{PREFIX}/nc_percent_median": float(np.nanmedian(ceiling.nc_percent)),
            f"{PREFIX}/ncsnr_median": float(np.nanmedian(ceiling.ncsnr)),
            f"{PREFIX}/n_average": float(n_average),
            f"{PREFIX}/n_images": float(ceiling.n_images),
            f"{PREFIX}/n_repeats": float(ceiling.n_repeats)}


def _variance(files: PreparedSet, rows: np.ndarray) -> np.ndarray:
    """Per-voxel variance over ``rows``, read in chunks (Chan's parallel update)."""
    count, mean, m2 = 0, np.zeros(files.n_voxels), np.zeros(files.n_voxels)
    step = max(1, CHUNK_BYTES // (8 * files.n_voxels))
    for start in range(0, len(rows), step):
        x = files.read(rows[start:start + step], np.float64)
        n, m = len(x), x.mean(axis=0)
        delta = m - mean
        total = count + n
        m2 += ((x - m) ** 2).sum(axis=0) + delta ** 2 * count * n / total
        mean += delta * n / total
        count = total
    return m2 / max(count, 1)


def summary_line(metrics: dict[str, float]) -> str | None:
    """The line ``make train`` prints (with the test R² as a share of NC when both exist), or
    None when the data have no repeats. A sample is a row of the file: a volume, a trial's mean
    volume or its LSS beta (``sample_mode``)."""
    key = f"{PREFIX}/nc_percent_mean"
    if key not in metrics:
        return None
    line = (f"  {'repeat NC%':<16} {metrics[key]:.1f} (noise ceiling of one sample from "
            f"{int(metrics[f'{PREFIX}/n_images'])} repeated images x up to "
            f"{int(metrics[f'{PREFIX}/n_repeats'])}, all rows")
    if "test/r2" in metrics and metrics[key] > 0:
        line += f"; test R² is {100 * metrics['test/r2'] / (metrics[key] / 100):.0f}% of it"
    return line + ")"
