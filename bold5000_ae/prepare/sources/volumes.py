"""Preprocessed single volumes: ``CSI{n}_session{s}_run{r}_volume{k}.nii.gz`` (3 per trial).

The layout of the BOLD5000 preprocessed-volume release: every trial's volumes at onset + 4, 6
and 8 s, already cleaned (motion, smoothing, ICA-AROMA, high-pass, median-scaled to 10000) and
resampled to 88 x 88 x 66. Volume k of a run belongs to trial (k-1)//3 + 1 at offset
``offsets_s[(k-1) % 3]``. The image of each trial comes from the run's BIDS events file
(``events_root``), from the release's per-run presentation file ``CSI_sess{SS}_run{RR}.mat`` found
below ``root`` (so a folder holding the volumes and ``BOLD5000_Stimuli`` needs nothing else), or
from the subject's stimulus list through the run layout (``trial_layout.py``). The volumes are only
masked (nilearn ``compute_multi_epi_mask`` over the first runs' mean volumes, or a mask file);
``standardize`` z-scores each voxel within a run. ``reference`` (``mni152`` or a NIfTI path;
``reference_grid.py``) resamples every volume and the mask onto that grid, so subjects on other
native grids can be prepared into files that form one dataset.
"""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from nilearn.exceptions import MaskWarning
from nilearn.image import mean_img
from nilearn.masking import compute_multi_epi_mask

from bold5000_ae.prepare.events import read_events
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.nifti_io import check_finite, header_grid, load_mask, load_nifti
from bold5000_ae.prepare.sources.reference_grid import load_reference
from bold5000_ae.prepare.sources.release import find_presentation_runs, read_presentation_run
from bold5000_ae.prepare.sources.trial_layout import (
    TRIALS_PER_RUN,
    find_events,
    layout_table,
    stim_list_path,
)
from bold5000_ae.prepare.stimuli import read_stimulus_list
from bold5000_ae.utils.errors import InputError

VOLUME_PATTERN = re.compile(r"^CSI(\d+)_session(\d+)_run(\d+)_volume(\d+)\.nii(\.gz)?$")


class VolumesSource:
    """Single preprocessed volumes under ``root`` (searched recursively), one unit per run."""

    def __init__(self, root: str | Path, events_root: str | Path | None = None,
                 stim_list: str | None = None, runs_per_session: Sequence[int] | None = None,
                 trials_per_run: int = TRIALS_PER_RUN, mask: str = "compute",
                 mask_runs: int = 3, offsets_s: Sequence[float] = (4.0, 6.0, 8.0),
                 mode: Literal["each", "mean"] = "each", standardize: bool = False,
                 subjects: Sequence[int] | None = None,
                 sessions: Sequence[int] | None = None, task: str = "5000scenes",
                 presentation_root: str | Path | None = None, reference: str | None = None,
                 reference_resolution_mm: int | None = 2,
                 reference_interpolation: str = "linear") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "volume folder not found")
        self.reference = load_reference(reference, reference_resolution_mm,
                                        reference_interpolation)
        if mode not in ("each", "mean"):
            raise InputError("mode", f"unknown mode {mode!r}; valid: each, mean")
        self.presentation_root = Path(presentation_root) if presentation_root else self.root
        self.events_root = Path(events_root) if events_root else None
        self.stim_list = stim_list
        self.runs_per_session = ([int(r) for r in runs_per_session] if runs_per_session
                                 else None)
        self.trials_per_run, self.mask_spec, self.mask_runs = trials_per_run, mask, mask_runs
        self.offsets_s, self.mode, self.standardize = tuple(offsets_s), mode, standardize
        self.task = task
        self._runs: dict[str, tuple[int, int, int, dict[int, Path]]] = {}
        found: dict[tuple[int, int, int], dict[int, Path]] = defaultdict(dict)
        for path in sorted(self.root.rglob("CSI*_session*_run*_volume*.nii*")):
            match = VOLUME_PATTERN.match(path.name)
            if not match:
                continue
            sub, ses, run, k = (int(match.group(i)) for i in range(1, 5))
            if (subjects and sub not in subjects) or (sessions and ses not in sessions):
                continue
            found[(sub, ses, run)][k] = path
        for (sub, ses, run), vols in sorted(found.items()):
            self._runs[f"sub-CSI{sub}_ses-{ses:02d}_run-{run:02d}"] = (sub, ses, run, vols)
        if not self._runs:
            raise InputError(self.root, "no CSI*_session*_run*_volume*.nii.gz files found")
        self._presentation: dict[tuple[int, int, int], Path] = {}
        if events_root is None:
            for sub in sorted({r[0] for r in self._runs.values()}):
                self._presentation.update({(sub, r.session, r.run): r.path for r in
                                           find_presentation_runs(self.presentation_root, sub)})
        if events_root is None and stim_list is None and not self._presentation:
            raise InputError(self.root, "no events_root, stim_list or Stimuli_Presentation_Lists"
                                        " below it to map volumes to trials and images")
        self._mask: tuple[np.ndarray, np.ndarray] | None = None

    def units(self) -> list[str]:
        return list(self._runs)

    def _volume_paths(self, unit: str) -> list[Path]:
        sub, ses, run, vols = self._runs[unit]
        numbers = sorted(vols)
        per_trial = len(self.offsets_s)
        if numbers != list(range(1, len(numbers) + 1)):
            missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
            raise InputError(vols[numbers[-1]].parent, f"{unit}: volume(s) {missing[:5]} missing")
        if len(numbers) % per_trial:
            raise InputError(vols[numbers[-1]], f"{unit}: {len(numbers)} volumes is not a whole "
                                                f"number of trials ({per_trial} volumes each)")
        return [vols[k] for k in numbers]

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """One mask for every run, on the grid all volumes must share (or the reference)."""
        if self._mask is None and self.reference is not None:
            self._mask = (self._reference_mask(), self.reference.affine)
        if self._mask is None:
            first = self._volume_paths(self.units()[0])[0]
            shape, affine = header_grid(first)
            if self.mask_spec == "compute":
                means = [mean_img([str(p) for p in self._volume_paths(u)], copy_header=True)
                         for u in self.units()[: self.mask_runs]]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", MaskWarning)
                    mask = np.asanyarray(compute_multi_epi_mask(means).dataobj) > 0
                if not mask.any():
                    raise InputError(self.root, "the computed mask is empty (volumes not "
                                                "EPI-like?); give a mask file")
            else:
                sub = self._runs[self.units()[0]][0]
                path = self.mask_spec.format(subject=sub, root=self.root)
                mask = load_mask(path, shape, affine, f"volume {first.name}")
            self._mask = (mask, affine)
        return self._mask

    def _reference_mask(self) -> np.ndarray:
        """The mask on the reference grid: computed from the first runs' mean volumes resampled
        there, or every subject's mask file resampled (nearest) and intersected."""
        if self.mask_spec == "compute":
            means = [self.reference.resample(mean_img([str(p) for p in self._volume_paths(u)],
                                                      copy_header=True))
                     for u in self.units()[: self.mask_runs]]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MaskWarning)
                mask = np.asanyarray(compute_multi_epi_mask(means).dataobj) > 0
            mask = self.reference.within_brain(mask)
        else:
            subjects = dict.fromkeys(self._runs[u][0] for u in self.units())
            if "{subject}" not in self.mask_spec:
                subjects = dict.fromkeys(list(subjects)[:1])
            mask = np.logical_and.reduce([self.reference.mask(load_nifti(
                self.mask_spec.format(subject=s, root=self.root), ndim=3)) for s in subjects])
        if not mask.any():
            raise InputError(self.root, f"the mask is empty on the reference grid "
                                        f"{self.reference.name} (do the volumes overlap it?)")
        return mask

    def _names(self, unit: str, n_trials: int) -> tuple[list[str], list[str | None]]:
        """Presented name (and ImgType when known) of trials 1..n_trials of one run."""
        sub, ses, run, _ = self._runs[unit]
        if self.events_root is not None:
            path = find_events(self.events_root, sub, ses, run, self.task)
            if path is None:
                raise InputError(self.events_root, f"no events file for {unit}")
            events = read_events(path)
            if n_trials > len(events):
                raise InputError(path, f"volume count does not match the events: "
                                       f"{n_trials * len(self.offsets_s)} volumes are "
                                       f"{n_trials} trials, the events list {len(events)}")
            types = events["ImgType"].astype(str).tolist() if "ImgType" in events else None
            return (events["ImgName"].astype(str).tolist()[:n_trials],
                    (types or [None] * len(events))[:n_trials])
        if (sub, ses, run) in self._presentation:
            path = self._presentation[(sub, ses, run)]
            names, types = read_presentation_run(path)
            if n_trials > len(names):
                raise InputError(path, f"{len(names)} trials but {unit} has volumes of "
                                       f"{n_trials} trials")
            return names[:n_trials], types[:n_trials]
        if self.stim_list is None:
            raise InputError(self.presentation_root, f"no presentation file for {unit}")
        path = stim_list_path(self.stim_list, sub, self.root)
        names = read_stimulus_list(path)
        layout = layout_table(len(names), self.runs_per_session, self.trials_per_run)
        if self.runs_per_session is None:
            if ses != 1:
                raise InputError("runs_per_session", f"{unit}: mapping sessions after the first "
                                                     "through the stimulus list needs "
                                                     "runs_per_session or events_root")
            rows = np.flatnonzero(layout.run.to_numpy() == run)  # session 1 opens the list
        else:
            rows = np.flatnonzero((layout.session.to_numpy() == ses)
                                  & (layout.run.to_numpy() == run))
        if len(rows) < n_trials:
            raise InputError(path, f"stimulus list shorter than the trials: it holds {len(rows)}"
                                   f" trials for {unit}, the volumes {n_trials}")
        return [names[i] for i in rows[:n_trials]], [None] * n_trials

    def load(self, unit: str) -> UnitSamples:
        sub, ses, run, _ = self._runs[unit]
        mask, affine = self.mask_and_affine()
        rows = []
        for path in self._volume_paths(unit):
            img = load_nifti(path, ndim=3)
            if self.reference is not None:  # any native grid: the whole volume is resampled
                check_finite(np.asanyarray(img.dataobj), path)
                img = self.reference.resample(img)
            elif img.shape != mask.shape or not np.allclose(img.affine, affine, atol=1e-3):
                raise InputError(path, f"grid {img.shape} does not match the mask grid "
                                       f"{mask.shape} (shapes or affines differ)")
            data = np.asanyarray(img.dataobj)
            check_finite(data, path, mask)
            rows.append(data[mask].astype(np.float32))
        bold = np.stack(rows)
        per_trial = len(self.offsets_s)
        n_trials = len(bold) // per_trial
        names, types = self._names(unit, n_trials)
        if self.standardize:
            std = bold.std(axis=0)
            bold = (bold - bold.mean(axis=0)) / np.where(std > 0, std, 1.0)
        trial_of_row = np.repeat(np.arange(n_trials), per_trial)
        offsets = np.tile(self.offsets_s, n_trials)
        if self.mode == "mean":
            bold = bold.reshape(n_trials, per_trial, -1).mean(axis=1)
            trial_of_row, offsets = np.arange(n_trials), np.full(n_trials, np.nan)
        samples = pd.DataFrame({
            "subject": sub, "session": ses, "run": run, "trial": trial_of_row + 1,
            "offset_s": offsets, "presented_name": [names[i] for i in trial_of_row],
            "img_type": [types[i] for i in trial_of_row]})
        return UnitSamples(bold=bold.astype(np.float32), samples=samples)

    def describe(self) -> dict[str, Any]:
        return {"source": "volumes", "root": str(self.root), "grid_kind": "volume",
                "events_root": str(self.events_root) if self.events_root else None,
                "stim_list": self.stim_list, "runs_per_session": self.runs_per_session,
                "presentation_files": len(self._presentation),
                "trials_per_run": self.trials_per_run, "mask": self.mask_spec,
                "mask_runs": self.mask_runs, "offsets_s": list(self.offsets_s),
                "mode": self.mode, "standardize": self.standardize, "runs": len(self._runs),
                "reference": self.reference.describe() if self.reference else None,
                "trial_rule": "volume k -> trial (k-1)//len(offsets_s)+1"}

