"""Release-1 ROI files: ``CSI{n}_ROIs_TR{1..5,34}.mat`` (or ``.h5``), ten (trials, voxels) arrays.

The ROI arrays have no 3D grid, so the prepared file stores them as columns: the selected ROIs
concatenated in ``rois`` order (default :data:`ROI_ORDER`, the order of the release files), a
``(V, 1, 1)`` all-true mask and an identity affine, with ``grid_kind = "roi_columns"`` and the
ROI names and widths recorded in the ``source`` attribute so a reader can slice one ROI back out.
A conv3d encoder makes no sense on that layout; the MLP encoder does. The real CSI1 masks hold
1685 voxels over the ten ROIs, of which 19 lie in two ROIs, so the columns repeat those voxels.

Rows are trials in stimulus-list order; session and run come from ``trial_layout.py``. From the
release root alone the reader finds ``ROIs/CSI{n}/{mat,h5}/`` and the list
``ROIs/stim_lists/CSI01_stim_lists.txt`` (zero-padded, as published), and the runs of each session
from ``Stimuli_Presentation_Lists`` when the stimuli release is unpacked beside it. ``tr``
picks the file: TR k is the k-th volume after onset (offset recorded as 2*(k-1) s), TR34 the
mean of the 3rd and 4th (offset NaN, as for any mean over a window). MATLAB v5 files are read
with scipy.io, v7.3 and ``.h5`` files with h5py; (voxels, trials) arrays, which MATLAB's
column-major HDF5 writes, are transposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import pandas as pd
import scipy.io

from bold5000_ae.prepare.provenance import note_input
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.nifti_io import load_nifti
from bold5000_ae.prepare.sources.release import IMGNAMES, STIM_LISTS, find_below, subject_spellings
from bold5000_ae.prepare.sources.trial_layout import (
    TRIALS_PER_RUN,
    check_list_length,
    layout_table,
    stim_list_path,
    subject_layout,
    subject_path,
)
from bold5000_ae.prepare.stimuli import read_stimulus_list
from bold5000_ae.utils.errors import InputError

ROI_ORDER = ("LHPPA", "RHLOC", "LHLOC", "RHEarlyVis", "RHRSC", "RHOPA", "RHPPA", "LHEarlyVis",
             "LHRSC", "LHOPA")
ROI_TRS = ("1", "2", "3", "4", "5", "34")
TR_SECONDS = 2.0


def roi_file(root: Path, subject: int, tr: str, fmt: str) -> Path:
    """``[ROIs/]CSI{n}/{mat,h5}/CSI{n}_ROIs_TR{tr}.{mat,h5}`` as released (``CSI01`` too), or
    anywhere below root. ``fmt="auto"`` takes ``mat`` when present, else ``h5``."""
    formats = ("mat", "h5") if fmt == "auto" else (fmt,)
    for ext in formats:
        for spelling in subject_spellings(subject):
            name = f"{spelling}_ROIs_TR{tr}.{ext}"
            for candidate in (root / spelling / ext / name, root / "ROIs" / spelling / ext / name,
                              root / spelling / name, root / name):
                if candidate.is_file():
                    return candidate
        found = find_below(root, [f"{s}_ROIs_TR{tr}.{ext}" for s in subject_spellings(subject)])
        if found is not None:
            return found
    wanted = " or ".join(f"CSI{subject}_ROIs_TR{tr}.{ext}" for ext in formats)
    raise InputError(root, f"ROI file not found: no {wanted} below it")


def _read_arrays(path: Path, rois: Sequence[str]) -> dict[str, np.ndarray]:
    if h5py.is_hdf5(path):  # .h5 twins and MATLAB v7.3 .mat files
        note_input(path)  # HDF5 opens files outside Python: no audit event
        with h5py.File(path, "r") as h5:
            missing = [r for r in rois if r not in h5]
            if missing:
                raise InputError(path, f"missing ROI array(s) {missing} (found: {list(h5)})")
            return {r: h5[r][()] for r in rois}
    try:
        mat = scipy.io.loadmat(path, variable_names=list(rois))
    except (ValueError, TypeError, OSError) as exc:
        raise InputError(path, f"not a readable MATLAB or HDF5 file ({exc})") from None
    missing = [r for r in rois if r not in mat]
    if missing:
        raise InputError(path, f"missing ROI array(s) {missing}")
    return {r: mat[r] for r in rois}


class RoiSource:
    """One unit per subject: its ROI file, rows matched to its stimulus list."""

    def __init__(self, root: str | Path, stim_list: str | None = None,
                 subjects: Sequence[int] = (1,), tr: str | int = "34",
                 format: Literal["auto", "mat", "h5"] = "auto",
                 rois: Sequence[str] | None = None,
                 runs_per_session: Sequence[int] | None = None,
                 events_root: str | Path | None = None, trials_per_run: int = TRIALS_PER_RUN,
                 roi_masks: str | None = None, task: str = "5000scenes",
                 presentation_root: str | Path | None = None) -> None:
        self.root, self.tr, self.format = Path(root), str(tr), format
        if not self.root.is_dir():
            raise InputError(self.root, "ROI release folder not found")
        if self.tr not in ROI_TRS:
            raise InputError("tr", f"unknown ROI file TR{self.tr}; valid: {', '.join(ROI_TRS)}")
        if format not in ("auto", "mat", "h5"):
            raise InputError("format", f"unknown format {format!r}; valid: auto, mat, h5")
        self.rois = tuple(rois) if rois else ROI_ORDER
        unknown = [r for r in self.rois if r not in ROI_ORDER]
        if unknown or len(set(self.rois)) != len(self.rois):
            raise InputError("rois", f"unknown or repeated ROI(s) {unknown or list(self.rois)}; "
                                     f"valid: {', '.join(ROI_ORDER)}")
        self.subjects, self.stim_list = [int(s) for s in subjects], stim_list
        self.runs_per_session = ([int(r) for r in runs_per_session] if runs_per_session
                                 else None)
        self.events_root = events_root
        self.trials_per_run, self.roi_masks, self.task = trials_per_run, roi_masks, task
        self.presentation_root = Path(presentation_root) if presentation_root else self.root
        self._files = {f"sub-CSI{s}": roi_file(self.root, s, self.tr, format)
                       for s in self.subjects}
        self._widths: dict[str, int] | None = None

    def units(self) -> list[str]:
        return list(self._files)

    def _shapes(self, path: Path) -> dict[str, tuple[int, int]]:
        if h5py.is_hdf5(path):
            note_input(path)
            with h5py.File(path, "r") as h5:
                return {r: tuple(h5[r].shape) for r in self.rois if r in h5}
        try:
            return {name: tuple(shape) for name, shape, _ in scipy.io.whosmat(path)
                    if name in self.rois}
        except (ValueError, TypeError, OSError) as exc:
            raise InputError(path, f"not a readable MATLAB or HDF5 file ({exc})") from None

    def _list_path(self, unit: str) -> Path:
        return stim_list_path(self.stim_list, int(unit.removeprefix("sub-CSI")), self.root,
                              STIM_LISTS + IMGNAMES)

    def _check_masks(self, subject: int, widths: dict[str, int]) -> None:
        """ROI widths must equal the voxel counts of the subject's ROI masks, when given."""
        for roi, width in widths.items():
            path = subject_path(self.roi_masks, subject, "sub-CSI{subject}_mask-{roi}.nii.gz",
                                roi=roi, root=self.root)
            count = int((np.asanyarray(load_nifti(path, ndim=3).dataobj) > 0).sum())
            if count != width:
                raise InputError(path, f"{roi} mask holds {count} voxels but the ROI file has "
                                       f"{width} columns")

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(V, 1, 1) all-true mask, identity affine: columns, not a grid (see module doc)."""
        if self._widths is None:
            widths_by_subject = {}
            for unit, path in self._files.items():
                shapes = self._shapes(path)
                missing = [r for r in self.rois if r not in shapes]
                if missing:
                    raise InputError(path, f"missing ROI array(s) {missing}")
                n = len(read_stimulus_list(self._list_path(unit)))
                widths_by_subject[unit] = {r: shapes[r][1] if shapes[r][0] == n
                                           else shapes[r][0] for r in self.rois}
            first = next(iter(widths_by_subject.values()))
            for unit, widths in widths_by_subject.items():
                if widths != first:
                    raise InputError(self._files[unit], f"ROI widths {widths} differ from "
                                     f"{first}: subjects have their own voxels; prepare one "
                                     "subject per file")
            self._widths = first
        return np.ones((sum(self._widths.values()), 1, 1), bool), np.eye(4)

    def load(self, unit: str) -> UnitSamples:
        path, subject = self._files[unit], int(unit.removeprefix("sub-CSI"))
        list_path = self._list_path(unit)
        names = read_stimulus_list(list_path)
        arrays = _read_arrays(path, self.rois)
        columns = []
        for roi in self.rois:
            data = np.asarray(arrays[roi], dtype=np.float32)
            if data.ndim != 2:
                raise InputError(path, f"{roi} has shape {data.shape}, expected (trials, voxels)")
            if data.shape[0] != len(names) and data.shape[1] == len(names):
                data = data.T  # MATLAB v7.3 / column-major writers
            if not np.isfinite(data).all():
                raise InputError(path, f"{roi}: {int((~np.isfinite(data)).sum())} NaN or Inf "
                                       "voxel values")
            columns.append(data)
        n_trials = {c.shape[0] for c in columns}
        if len(n_trials) != 1:
            raise InputError(path, f"ROI arrays disagree on the number of trials {n_trials}")
        n = n_trials.pop()
        check_list_length(names, n, list_path, exact=True)
        if self.roi_masks:
            self._check_masks(subject, {r: c.shape[1] for r, c in zip(self.rois, columns)})
        runs, layout_from = subject_layout(
            subject, names, list_path, runs_per_session=self.runs_per_session,
            events_root=self.events_root, presentation_root=self.presentation_root,
            task=self.task, trials_per_run=self.trials_per_run)
        layout = layout_table(n, runs, self.trials_per_run)
        offset = np.nan if self.tr == "34" else TR_SECONDS * (int(self.tr) - 1)
        samples = pd.DataFrame({"subject": subject, "session": layout.session,
                                "run": layout.run, "trial": layout.trial, "offset_s": offset,
                                "presented_name": names[:n], "img_type": None})
        return UnitSamples(bold=np.concatenate(columns, axis=1), samples=samples,
                           notes={"layout_from": layout_from})

    def describe(self) -> dict[str, Any]:
        widths = self._widths or {}
        return {"source": "roi", "root": str(self.root), "grid_kind": "roi_columns",
                "mask_layout": "(V, 1, 1) all true, identity affine; columns are ROIs "
                               "concatenated in roi_order",
                "tr": self.tr, "format": self.format, "roi_order": list(self.rois),
                "roi_widths": [widths.get(r) for r in self.rois],
                "subjects": self.subjects, "stim_list": self.stim_list,
                "runs_per_session": self.runs_per_session,
                "events_root": str(self.events_root) if self.events_root else None,
                "trials_per_run": self.trials_per_run, "roi_masks": self.roi_masks,
                "files": {u: str(p) for u, p in self._files.items()},
                "presentation_root": str(self.presentation_root)}
