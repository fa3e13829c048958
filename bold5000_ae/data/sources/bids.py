"""Raw BIDS runs (OpenNeuro ds001499 or fMRIPrep outputs): 4D run + events.tsv per run.

Cleaning is nilearn's: ``NiftiMasker`` masks, optionally smooths and resamples, then detrends,
high-passes and z-scores each run (and regresses confounds when given). We then keep the volumes
at onset + ``offsets_s`` (default 4, 6, 8 s), each as a sample or their mean per trial.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.image import mean_img, resample_to_img
from nilearn.maskers import NiftiMasker
from nilearn.masking import compute_multi_epi_mask

from bold5000_ae.data.events import read_events, sample_frames
from bold5000_ae.data.sources.base import UnitSamples
from bold5000_ae.errors import InputError

RUN_PATTERN = re.compile(r"sub-CSI(\d+)_ses-(\d+)_task-(\w+?)_run-(\d+)_bold\.nii(\.gz)?$")
DEFAULT_CONFOUNDS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


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


def check_finite(img: nib.Nifti1Image, path: str | Path, mask: np.ndarray | None = None) -> None:
    data = np.asanyarray(img.dataobj)
    values = data[mask] if mask is not None else data
    bad = int((~np.isfinite(values)).sum())
    if bad:
        raise InputError(path, f"{bad} NaN or Inf voxel values" +
                         (" inside the mask" if mask is not None else ""))


@dataclass(frozen=True)
class BidsRun:
    subject: int
    session: int
    run: int
    bold: Path
    events: Path

    @property
    def unit(self) -> str:
        return f"sub-CSI{self.subject}_ses-{self.session:02d}_run-{self.run:02d}"


class BidsSource:
    """BIDS runs under ``root``; ``mask`` is a path (``{subject}`` is filled in) or ``compute``."""

    def __init__(self, root: str | Path, task: str = "5000scenes",
                 subjects: Sequence[int] | None = None, sessions: Sequence[int] | None = None,
                 mask: str = "compute", smoothing_fwhm: float | None = None,
                 detrend: bool = True, high_pass: float | None = 1 / 128,
                 standardize: bool = True, confounds: Sequence[str] | None = None,
                 target_shape: Sequence[int] | None = None,
                 target_voxel_size_mm: Sequence[float] | None = None,
                 offsets_s: Sequence[float] = (4.0, 6.0, 8.0),
                 mode: Literal["each", "mean"] = "each", tr: float | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "BIDS root folder not found")
        if mode not in ("each", "mean"):
            raise InputError("mode", f"unknown mode {mode!r}; valid: each, mean")
        self.task, self.mask_spec, self.mode = task, mask, mode
        self.subjects, self.sessions = subjects, sessions
        self.clean_kwargs = dict(smoothing_fwhm=smoothing_fwhm, detrend=detrend,
                                 high_pass=high_pass,
                                 standardize="zscore_sample" if standardize else False)
        self.confounds = list(confounds) if confounds else None
        self.target_shape = tuple(target_shape) if target_shape else None
        self.target_voxel_size = tuple(target_voxel_size_mm) if target_voxel_size_mm else None
        self.offsets_s, self.tr = tuple(offsets_s), tr
        self._runs = {r.unit: r for r in self._find_runs()}
        if not self._runs:
            raise InputError(self.root, f"no sub-*/ses-*/func/*_task-{task}_run-*_bold.nii.gz "
                                        "files found")
        self._mask_img: nib.Nifti1Image | None = None

    def _find_runs(self) -> list[BidsRun]:
        runs = []
        for path in sorted(self.root.glob("sub-*/ses-*/func/*_bold.nii*")):
            match = RUN_PATTERN.search(path.name)
            if not match or match.group(3) != self.task:
                continue
            sub, ses, run = int(match.group(1)), int(match.group(2)), int(match.group(4))
            if (self.subjects and sub not in self.subjects) or (
                    self.sessions and ses not in self.sessions):
                continue
            events = path.with_name(RUN_PATTERN.sub(
                f"sub-CSI{match.group(1)}_ses-{match.group(2)}_task-{self.task}_"
                f"run-{match.group(4)}_events.tsv", path.name))
            if not events.is_file():
                raise InputError(path, f"no matching events file {events.name}")
            runs.append(BidsRun(sub, ses, run, path, events))
        return runs

    def units(self) -> list[str]:
        return list(self._runs)

    def _target_affine(self, reference: nib.Nifti1Image) -> np.ndarray | None:
        if not self.target_voxel_size:
            return None
        affine = reference.affine.copy()
        scale = np.array(self.target_voxel_size) / np.linalg.norm(affine[:3, :3], axis=0)
        affine[:3, :3] = affine[:3, :3] * scale
        return affine

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """The common mask on the output grid (resampled with nearest neighbour if needed)."""
        if self._mask_img is None:
            first = next(iter(self._runs.values()))
            reference = load_nifti(first.bold, ndim=4)
            if self.mask_spec == "compute":
                means = [mean_img(load_nifti(r.bold, ndim=4), copy_header=True)
                         for r in self._runs.values()]
                mask_img = compute_multi_epi_mask(means)
            else:
                path = Path(self.mask_spec.format(subject=first.subject, root=self.root))
                mask_img = load_nifti(path, ndim=3)
                if self.target_shape is None and self.target_voxel_size is None and (
                        mask_img.shape != reference.shape[:3]
                        or not np.allclose(mask_img.affine, reference.affine, atol=1e-3)):
                    raise InputError(path, f"mask grid {mask_img.shape} does not match the run "
                                           f"grid {reference.shape[:3]} of {first.bold.name}")
            target_affine = self._target_affine(reference)
            if target_affine is not None or self.target_shape is not None:
                target = nib.Nifti1Image(np.zeros(self.target_shape or reference.shape[:3]),
                                         target_affine if target_affine is not None
                                         else reference.affine)
                mask_img = resample_to_img(mask_img, target, interpolation="nearest",
                                           force_resample=True, copy_header=True)
            data = np.asanyarray(mask_img.dataobj) > 0
            if not data.any():
                raise InputError(self.mask_spec, "mask is empty")
            self._mask_img = nib.Nifti1Image(data.astype(np.uint8), mask_img.affine)
        return np.asanyarray(self._mask_img.dataobj).astype(bool), self._mask_img.affine

    def _confounds(self, run: BidsRun) -> pd.DataFrame | None:
        if not self.confounds:
            return None
        path = run.bold.with_name(run.bold.name.split("_bold")[0] +
                                  "_desc-confounds_timeseries.tsv")
        if not path.is_file():
            raise InputError(path, "confounds file not found")
        table = pd.read_csv(path, sep="\t")
        missing = [c for c in self.confounds if c not in table.columns]
        if missing:
            raise InputError(path, f"missing confound column(s) {', '.join(missing)}")
        return table[self.confounds].fillna(0.0)

    def load(self, unit: str) -> UnitSamples:
        run = self._runs[unit]
        img = load_nifti(run.bold, ndim=4)
        mask, _ = self.mask_and_affine()
        if self.target_shape is None and self.target_voxel_size is None:
            if img.shape[:3] != mask.shape:
                raise InputError(run.bold, f"grid {img.shape[:3]} does not match the mask grid "
                                           f"{mask.shape}")
            check_finite(img, run.bold, mask)
        else:
            check_finite(img, run.bold)
        tr = self.tr or float(img.header.get_zooms()[3]) or 2.0
        events = read_events(run.events)
        frames = sample_frames(events["onset"].to_numpy(), self.offsets_s, tr, img.shape[3],
                               run.events)
        masker = NiftiMasker(mask_img=self._mask_img, t_r=tr,
                             target_affine=self._mask_img.affine, target_shape=mask.shape,
                             **self.clean_kwargs)
        cleaned = masker.fit_transform(img, confounds=self._confounds(run)).astype(np.float32)
        if self.mode == "mean":
            bold = cleaned[frames].mean(axis=1)
            offsets = np.full(len(events), np.nan)
            rows = np.arange(len(events))
        else:
            bold = cleaned[frames.reshape(-1)]
            offsets = np.tile(self.offsets_s, len(events))
            rows = np.repeat(np.arange(len(events)), len(self.offsets_s))
        samples = pd.DataFrame({
            "subject": run.subject, "session": run.session, "run": run.run,
            "trial": events["Trial"].to_numpy()[rows].astype(int),
            "offset_s": offsets,
            "presented_name": events["ImgName"].astype(str).to_numpy()[rows],
            "img_type": (events["ImgType"].astype(str).to_numpy()[rows]
                         if "ImgType" in events else None),
        })
        return UnitSamples(bold=bold, samples=samples)

    def describe(self) -> dict[str, Any]:
        return {"source": "bids", "root": str(self.root), "task": self.task,
                "mask": self.mask_spec, "mode": self.mode, "offsets_s": list(self.offsets_s),
                "runs": len(self._runs), **{k: v for k, v in self.clean_kwargs.items()},
                "confounds": self.confounds, "target_shape": self.target_shape,
                "target_voxel_size_mm": self.target_voxel_size}
