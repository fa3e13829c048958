"""Raw BIDS runs (OpenNeuro ds001499 or fMRIPrep outputs): 4D run + events.tsv per run.

Cleaning is nilearn's: ``NiftiMasker`` masks, optionally smooths and resamples, then detrends,
high-passes and z-scores each run (and regresses confounds when given). We then keep the volumes
at onset + ``offsets_s`` (default 4, 6, 8 s), each as a sample or their mean per trial, or fit
one least-squares-separate beta per trial on the cleaned run (``mode: lss``, ``lss.py``).

One mask and one grid serve every run, because the HDF5 file stores (N, V) rows of one mask.
Several subjects (or sessions on different grids) are refused unless they share a grid (e.g.
fMRIPrep ``space-MNI152NLin2009cAsym`` outputs, chosen with ``space``) or ``target_shape`` /
``target_voxel_size_mm`` resample them onto one; per-subject mask files (``{subject}`` in
``mask``) are then intersected. Native-space runs resampled to one grid line up as arrays, not
anatomically: cross-subject analyses want a template space.

``reference`` (``mni152`` or a NIfTI path; ``reference_grid.py``) resamples every run and the
mask onto that grid before cleaning, so files prepared separately (one per subject, each on its
own native grid) share it and form one multi-file dataset.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.image import mean_img, resample_to_img
from nilearn.masking import compute_multi_epi_mask

from bold5000_ae.prepare.events import read_events, sample_frames, trial_durations
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.lss import cleaned_run_betas, describe_lss
from bold5000_ae.prepare.sources.nifti_io import (
    check_finite,
    grid_difference,
    header_grid,
    load_nifti,
    same_grid,
)
from bold5000_ae.prepare.sources.reference_grid import load_reference
from bold5000_ae.prepare.sources.run_cleaning import (
    clean_options,
    clean_run,
    high_pass_filter_name,
    read_confounds,
)
from bold5000_ae.prepare.sources.trial_layout import find_events
from bold5000_ae.utils.errors import InputError

# Raw (``..._run-01_bold``) and fMRIPrep (``..._run-01_space-T1w_desc-preproc_bold``) names.
RUN_PATTERN = re.compile(r"sub-CSI(\d+)_ses-(\d+)_task-([a-zA-Z0-9]+)_run-(\d+)"
                         r"((?:_[a-zA-Z]+-[a-zA-Z0-9]+)*)_bold\.nii(\.gz)?$")
EVENTS_NAME = re.compile(r"sub-CSI(\d+)_ses-(\d+)_task-([a-zA-Z0-9]+)_run-(\d+)_events\.tsv$")
DEFAULT_CONFOUNDS = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")


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
                 high_pass_filter: Literal["cosine", "butterworth"] = "cosine",
                 standardize: bool = True, confounds: Sequence[str] | None = None,
                 target_shape: Sequence[int] | None = None,
                 target_voxel_size_mm: Sequence[float] | None = None,
                 offsets_s: Sequence[float] = (4.0, 6.0, 8.0),
                 mode: Literal["each", "mean", "lss"] = "each", hrf_model: str = "glover",
                 tr: float | None = None,
                 events_root: str | Path | None = None, space: str | None = None,
                 reference: str | None = None, reference_resolution_mm: int | None = 2,
                 reference_interpolation: str = "linear") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "BIDS root folder not found")
        if mode not in ("each", "mean", "lss"):
            raise InputError("mode", f"unknown mode {mode!r}; valid: each, mean, lss")
        self.task, self.mask_spec, self.mode, self.hrf_model = task, mask, mode, hrf_model
        self.subjects, self.sessions = subjects, sessions
        self.clean_kwargs = clean_options(smoothing_fwhm, detrend, high_pass, high_pass_filter,
                                          standardize)
        self.confounds = list(confounds) if confounds else None
        self.target_shape = tuple(target_shape) if target_shape else None
        self.target_voxel_size = tuple(target_voxel_size_mm) if target_voxel_size_mm else None
        self.offsets_s, self.tr = tuple(offsets_s), tr
        self.events_root = Path(events_root) if events_root else None
        self.space = space
        self.reference = load_reference(reference, reference_resolution_mm,
                                        reference_interpolation)
        if self.reference is not None and (self.target_shape or self.target_voxel_size):
            raise InputError("reference", "give a reference grid or target_shape / "
                                          "target_voxel_size_mm, not both")
        self._runs = {r.unit: r for r in self._find_runs()}
        if not self._runs:
            raise InputError(self.root, f"no sub-*/ses-*/func/*_task-{task}_run-*_bold.nii.gz "
                                        "files found")
        self._mask_img: nib.Nifti1Image | None = None

    def _events_for(self, bold: Path, sub: int, ses: int, run: int) -> Path:
        """Events beside the run (raw BIDS) or under ``events_root`` (fMRIPrep outputs)."""
        name = f"sub-CSI{sub}_ses-{ses:02d}_task-{self.task}_run-{run:02d}_events.tsv"
        if (bold.parent / name).is_file():
            return bold.parent / name
        found = find_events(self.events_root, sub, ses, run, self.task) if (
            self.events_root) else None
        if found is None:
            raise InputError(bold, f"no matching events file {name}")
        return found

    def _selected(self, sub: int, ses: int) -> bool:
        return not ((self.subjects and sub not in self.subjects)
                    or (self.sessions and ses not in self.sessions))

    def _find_runs(self) -> list[BidsRun]:
        runs: dict[tuple[int, int, int], BidsRun] = {}
        for path in sorted(self.root.glob("sub-*/ses-*/func/*_bold.nii*")):
            match = RUN_PATTERN.search(path.name)
            if not match or match.group(3) != self.task:
                continue
            if self.space and f"_space-{self.space}_" not in match.group(5) + "_":
                continue
            sub, ses, run = int(match.group(1)), int(match.group(2)), int(match.group(4))
            if not self._selected(sub, ses):
                continue
            if (sub, ses, run) in runs:
                raise InputError(path, f"second BOLD file for the run of "
                                       f"{runs[sub, ses, run].bold.name}; choose one with space=")
            runs[sub, ses, run] = BidsRun(sub, ses, run, path,
                                          self._events_for(path, sub, ses, run))
        for path in sorted(self.root.glob("sub-*/ses-*/func/*_events.tsv")):
            match = EVENTS_NAME.search(path.name)
            if match and match.group(3) == self.task:
                key = tuple(int(match.group(i)) for i in (1, 2, 4))
                if self._selected(key[0], key[1]) and key not in runs:
                    raise InputError(path, "events without a matching run (no "
                                           f"..._run-{match.group(4)}_bold.nii.gz beside it)")
        return list(runs.values())

    def units(self) -> list[str]:
        return list(self._runs)

    def _target_affine(self, reference: nib.Nifti1Image) -> np.ndarray | None:
        if not self.target_voxel_size:
            return None
        affine = reference.affine.copy()
        scale = np.array(self.target_voxel_size) / np.linalg.norm(affine[:3, :3], axis=0)
        affine[:3, :3] = affine[:3, :3] * scale
        return affine

    def _check_common_grid(self) -> None:
        """All runs must share one grid unless resampling puts them on one (headers only)."""
        runs = list(self._runs.values())
        shape, affine = header_grid(runs[0].bold)
        for run in runs[1:]:
            other_shape, other_affine = header_grid(run.bold)
            if not same_grid(shape, affine, other_shape, other_affine):
                diff = grid_difference(other_shape, other_affine, shape, affine)
                raise InputError(run.bold, f"grid differs from {runs[0].bold.name} ({diff}): "
                                 "runs (and subjects) "
                                 "need a common grid; use MNI-space fMRIPrep outputs, or set "
                                 "target_shape / target_voxel_size_mm to resample")

    def _file_mask(self, target: nib.Nifti1Image | None,
                   reference: nib.Nifti1Image) -> nib.Nifti1Image:
        """Per-subject mask files (``{subject}``) are intersected: one voxel set for all."""
        masks = []
        for sub in dict.fromkeys(r.subject for r in self._runs.values()):
            path = Path(self.mask_spec.format(subject=sub, root=self.root))
            img = load_nifti(path, ndim=3)
            if target is None:
                if not same_grid(img.shape, img.affine, reference.shape, reference.affine):
                    raise InputError(path, f"mask grid {img.shape} does not match the run grid "
                                           f"{reference.shape[:3]} (shapes or affines differ)")
            else:
                img = resample_to_img(img, target, interpolation="nearest",
                                      force_resample=True, copy_header=True)
            masks.append(np.asanyarray(img.dataobj) > 0)
            if "{subject}" not in self.mask_spec:
                break
        return nib.Nifti1Image(np.logical_and.reduce(masks).astype(np.uint8), img.affine)

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """The common mask on the output grid (resampled with nearest neighbour if needed)."""
        if self._mask_img is None:
            if not self._resampling:
                self._check_common_grid()
            first = next(iter(self._runs.values()))
            reference = load_nifti(first.bold, ndim=4)
            target = None
            if self.reference is not None:
                target = self.reference.target
            elif self._resampling:
                target_affine = self._target_affine(reference)
                target = nib.Nifti1Image(np.zeros(self.target_shape or reference.shape[:3]),
                                         reference.affine if target_affine is None
                                         else target_affine)
            if self.mask_spec == "compute":
                means = [mean_img(load_nifti(r.bold, ndim=4), copy_header=True)
                         for r in self._runs.values()]
                if target is not None:
                    means = [resample_to_img(m, target, force_resample=True, copy_header=True)
                             for m in means]
                mask_img = compute_multi_epi_mask(means)
            else:
                mask_img = self._file_mask(target, reference)
            data = np.asanyarray(mask_img.dataobj) > 0
            if self.reference is not None:
                data = self.reference.within_brain(data)
            if not data.any():
                raise InputError(self.mask_spec, "mask is empty" + (
                    f" on the reference grid {self.reference.name} (do the runs overlap it?)"
                    if self.reference is not None else ""))
            self._mask_img = nib.Nifti1Image(data.astype(np.uint8), mask_img.affine)
        return np.asanyarray(self._mask_img.dataobj).astype(bool), self._mask_img.affine

    @property
    def _resampling(self) -> bool:
        return (self.target_shape is not None or self.target_voxel_size is not None
                or self.reference is not None)

    def _confounds(self, run: BidsRun, n_volumes: int) -> pd.DataFrame | None:
        if not self.confounds:
            return None
        stem = RUN_PATTERN.search(run.bold.name)
        return read_confounds(run.bold.with_name(
            f"sub-CSI{stem.group(1)}_ses-{stem.group(2)}_task-{self.task}_run-{stem.group(4)}"
            "_desc-confounds_timeseries.tsv"), self.confounds, n_volumes)

    def load(self, unit: str) -> UnitSamples:
        run = self._runs[unit]
        img = load_nifti(run.bold, ndim=4)
        mask, _ = self.mask_and_affine()
        if not self._resampling:
            if img.shape[:3] != mask.shape:
                raise InputError(run.bold, f"grid {img.shape[:3]} does not match the mask grid "
                                           f"{mask.shape}")
            check_finite(np.asanyarray(img.dataobj), run.bold, mask)
        else:
            check_finite(np.asanyarray(img.dataobj), run.bold)
        tr = self.tr or float(img.header.get_zooms()[3]) or 2.0
        if self.reference is not None:  # the chosen interpolation, before masking and cleaning
            img = self.reference.resample(img)
        events = read_events(run.events)
        onsets, lss = events["onset"].to_numpy(), self.mode == "lss"
        frames = sample_frames(onsets, (0.0,) if lss else self.offsets_s, tr, img.shape[3],
                               run.events)  # lss: each onset within the run; else each volume
        durations = trial_durations(events, run.events) if lss else None
        confounds = self._confounds(run, img.shape[3])
        cleaned = clean_run(img, self._mask_img, tr, confounds, self.clean_kwargs)
        rows, offsets = np.arange(len(events)), np.full(len(events), np.nan)
        if lss:
            bold = cleaned_run_betas(cleaned, onsets, durations, tr, confounds,
                                     self.clean_kwargs, self.hrf_model)
        elif self.mode == "mean":
            bold = cleaned[frames].mean(axis=1)
        else:
            bold = cleaned[frames.reshape(-1)]
            offsets = np.tile(self.offsets_s, len(events))
            rows = np.repeat(rows, len(self.offsets_s))
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
        lss = {"lss": describe_lss(self.hrf_model)} if self.mode == "lss" else {}
        return {"source": "bids", "root": str(self.root), "task": self.task,
                "mask": self.mask_spec, "mode": self.mode,
                "offsets_s": None if self.mode == "lss" else list(self.offsets_s), **lss,
                "runs": len(self._runs),
                **{k: v for k, v in self.clean_kwargs.items() if k != "clean_args"},
                "high_pass_filter": high_pass_filter_name(self.clean_kwargs),
                "confounds": self.confounds, "target_shape": self.target_shape,
                "target_voxel_size_mm": self.target_voxel_size, "space": self.space,
                "reference": self.reference.describe() if self.reference else None,
                "events_root": str(self.events_root) if self.events_root else None,
                "grid_kind": "volume"}
