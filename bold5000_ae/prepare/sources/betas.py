"""Release-2 GLMsingle betas: ``CSI{n}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{XX}.nii.gz``.

Each session file is (X, Y, Z, trials of that session) in percent signal change, in trial order;
``CSI{n}_brainmask.nii.gz`` gives the voxels. One unit per session. Betas drift in scale between
sessions, so each voxel is z-scored within its session (sklearn ``StandardScaler``; a constant
voxel keeps scale 1). Rows are matched to the subject's stimulus list in session order: session
s starts after all trials of sessions 1..s-1, which is why sessions must be present from 1 without
gaps even when only some are selected. Within a session, trial j is trial j % 37 + 1 of run
j // 37 + 1. Subjects live in their own native grids, so several subjects are accepted only when
their grids (and hence masks) agree, or when ``reference`` (``mni152`` or a NIfTI path;
``reference_grid.py``) resamples every session file and mask onto one grid (each subject's mask
resampled by nearest neighbour, then intersected).

From the release root alone: the trial order is the release's
``Stimuli_Presentation_Lists/CSI{n}/CSI{n}_imgnames.txt`` (or a ``stim_lists`` file), the brain
mask ``CSI{n}_brainmask.nii.gz`` anywhere below the root, and, when the per-run presentation
files are there, each session's trial count is checked against its runs.

Leakage: a per-session z-score puts every row of a session through statistics of the whole
session, so a split that puts some runs of a session in training and others in validation would
carry held-out statistics into training rows. The prepared file therefore records
``normalized_within = "session"`` and the data module refuses splits that cut a session
(``data/splits.py: check_split_keeps_groups``); ``zscore=false`` stores raw betas, which any
split may use (the data module normalises with training rows only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.nifti_io import (
    check_finite,
    grid_difference,
    header_grid,
    load_mask,
    load_nifti,
    same_grid,
)
from bold5000_ae.prepare.sources.reference_grid import load_reference
from bold5000_ae.prepare.sources.release import (
    IMGNAMES,
    STIM_LISTS,
    find_below,
    find_presentation_runs,
    presentation_layout,
)
from bold5000_ae.prepare.sources.trial_layout import (
    TRIALS_PER_RUN,
    check_list_length,
    stim_list_path,
)
from bold5000_ae.prepare.stimuli import read_stimulus_list
from bold5000_ae.utils.errors import InputError

DEFAULT_KIND = "TYPED-FITHRF-GLMDENOISE-RR"


class BetasSource:
    """GLMsingle session files under ``root`` (searched recursively), one unit per session."""

    def __init__(self, root: str | Path, stim_list: str | None = None,
                 mask: str | None = None,
                 kind: str = DEFAULT_KIND, subjects: Sequence[int] | None = None,
                 sessions: Sequence[int] | None = None, zscore: bool = True,
                 trials_per_run: int = TRIALS_PER_RUN,
                 presentation_root: str | Path | None = None, reference: str | None = None,
                 reference_resolution_mm: int | None = 2,
                 reference_interpolation: str = "linear") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "betas folder not found")
        self.reference = load_reference(reference, reference_resolution_mm,
                                        reference_interpolation)
        self.stim_list, self.mask_spec, self.kind = stim_list, mask, kind
        self.zscore, self.trials_per_run = zscore, trials_per_run
        self.presentation_root = Path(presentation_root) if presentation_root else self.root
        pattern = re.compile(rf"^CSI(\d+)_GLMbetas-{re.escape(kind)}_ses-(\d+)\.nii(\.gz)?$")
        by_subject: dict[int, dict[int, Path]] = {}
        for path in sorted(self.root.rglob(f"CSI*_GLMbetas-{kind}_ses-*.nii*")):
            match = pattern.match(path.name)
            if match and (not subjects or int(match.group(1)) in subjects):
                by_subject.setdefault(int(match.group(1)), {})[int(match.group(2))] = path
        if not by_subject:
            raise InputError(self.root, f"no CSI*_GLMbetas-{kind}_ses-*.nii.gz files found")
        # (subject, session) -> (path, first stimulus-list row, trials)
        self._units: dict[str, tuple[int, int, Path, int, int]] = {}
        for sub, files in sorted(by_subject.items()):
            found = sorted(files)
            if found != list(range(1, len(found) + 1)):
                raise InputError(self.root, f"CSI{sub} betas cover sessions {found}; sessions "
                                            "must run from 1 without gaps to match the list")
            start = 0
            for ses in found:
                shape, _ = header_grid(files[ses])
                if len(shape) != 4:
                    raise InputError(files[ses], f"expected (X, Y, Z, trials), got {shape}")
                if shape[3] % trials_per_run:
                    raise InputError(files[ses], f"{shape[3]} trials is not a whole number of "
                                                 f"{trials_per_run}-trial runs")
                if not sessions or ses in sessions:
                    self._units[f"sub-CSI{sub}_ses-{ses:02d}"] = (sub, ses, files[ses], start,
                                                                  shape[3])
                start += shape[3]
            self._check_list(sub, start)
            self._check_presentation(sub, {ses: header_grid(files[ses])[0][3] for ses in found})
        self._mask: tuple[np.ndarray, np.ndarray] | None = None

    def _list_path(self, subject: int) -> Path:
        return stim_list_path(self.stim_list, subject, self.root, IMGNAMES + STIM_LISTS)

    def _mask_path(self, subject: int) -> Path:
        if self.mask_spec:
            return Path(self.mask_spec.format(subject=subject, root=self.root))
        name = f"CSI{subject}_brainmask.nii.gz"
        found = find_below(self.root, [name, f"CSI{subject}_brainmask.nii"])
        if found is None:
            raise InputError(self.root, f"no {name} below it; give source.reader.mask")
        return found

    def _check_presentation(self, subject: int, trials: dict[int, int]) -> None:
        """Each session file must hold the trials of that session's presentation runs."""
        runs = find_presentation_runs(self.presentation_root, subject)
        if not runs:
            return
        per_session, _ = presentation_layout(runs, self.trials_per_run)
        for ses, n in trials.items():
            want = (per_session[ses - 1] * self.trials_per_run if ses <= len(per_session)
                    else None)
            if want != n:
                raise InputError(self.root, f"CSI{subject} session {ses} betas hold {n} trials, "
                                            f"its presentation files "
                                            f"{want if want is not None else 'none'}")

    def _check_list(self, subject: int, n_trials: int) -> None:
        """Fail before any work when the list cannot cover the trials (longer is fine: the
        user may hold only the first sessions)."""
        check_list_length(read_stimulus_list(self._list_path(subject)), n_trials,
                          self._list_path(subject), exact=False)

    def units(self) -> list[str]:
        return list(self._units)

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        if self._mask is None:
            grids = {}
            for sub, _, path, _, _ in self._units.values():
                grids.setdefault(sub, (path, *header_grid(path)))
            first_sub, (path, shape, affine) = next(iter(grids.items()))
            if self.reference is not None:  # each subject's native mask onto the reference
                mask = np.logical_and.reduce([self.reference.mask(load_nifti(
                    self._mask_path(sub), ndim=3)) for sub in grids])
                if not mask.any():
                    raise InputError(self.root, "the masks share no voxel on the reference "
                                                f"grid {self.reference.name}")
                self._mask = (mask, self.reference.affine)
                return self._mask
            for sub, (other, o_shape, o_affine) in grids.items():
                if not same_grid(shape, affine, o_shape, o_affine):
                    diff = grid_difference(o_shape, o_affine, shape, affine)
                    raise InputError(other, f"grid of CSI{sub} differs from CSI{first_sub} "
                                            f"({diff}): subjects are in native space; prepare "
                                            "one subject per file")
            masks = [load_mask(self._mask_path(sub), shape, affine, f"betas {p.name}")
                     for sub, (p, _, _) in grids.items()]
            self._mask = (np.logical_and.reduce(masks), affine)
        return self._mask

    def load(self, unit: str) -> UnitSamples:
        sub, ses, path, start, n = self._units[unit]
        mask, affine = self.mask_and_affine()
        img = load_nifti(path, ndim=4)
        if self.reference is not None:
            # values outside the subject's own mask (NaN in some releases) must not bleed into
            # the brain through the interpolation: zero there, checked finite inside
            native = load_mask(self._mask_path(sub), img.shape, img.affine, f"betas {path.name}")
            data = np.asanyarray(img.dataobj)
            check_finite(data, path, native)
            img = self.reference.resample(nib.Nifti1Image(
                np.where(native[..., None], data, 0).astype(np.float32), img.affine))
        elif not same_grid(img.shape, img.affine, mask.shape, affine):
            raise InputError(path, f"grid {img.shape[:3]} does not match the mask grid "
                                   f"{mask.shape}")
        data = np.asanyarray(img.dataobj)
        check_finite(data, path, mask)
        bold = data[mask].T.astype(np.float32)  # (trials, voxels)
        if self.zscore:
            bold = StandardScaler().fit_transform(bold).astype(np.float32)
        names = read_stimulus_list(self._list_path(sub))[start:start + n]
        within = np.arange(n)
        samples = pd.DataFrame({
            "subject": sub, "session": ses, "run": within // self.trials_per_run + 1,
            "trial": within % self.trials_per_run + 1, "offset_s": np.nan,
            "presented_name": names, "img_type": None})
        return UnitSamples(bold=bold, samples=samples)

    def describe(self) -> dict[str, Any]:
        return {"source": "betas", "root": str(self.root), "grid_kind": "volume",
                "kind": self.kind, "mask": self.mask_spec, "stim_list": self.stim_list,
                "zscore": "per voxel within session" if self.zscore else None,
                "normalized_within": "session" if self.zscore else None,
                "units": len(self._units), "trials_per_run": self.trials_per_run,
                "reference": self.reference.describe() if self.reference else None,
                "row_rule": "session s starts after the trials of sessions 1..s-1 in the list"}
