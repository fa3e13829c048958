"""Release-2 GLMsingle ROI betas: ``CSI{n}_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_allses_{ROI}.npy``.

The release ships them under ``BOLD5000_GLMsingle_ROI_betas/py/``: one ``.npy`` per subject and
ROI, shaped (trials of all sessions, voxels of that ROI), rows in the order of the subject's
``CSI{n}_imgnames.txt`` (public loaders align the two row for row). They are stored like the
release-1 ROI files (``roi.py``): the chosen ROIs' columns concatenated, a ``(V, 1, 1)`` mask, an
identity affine and ``grid_kind = "roi_columns"``, with ROI names and widths recorded.

Sessions and runs come from the release's per-run presentation files (or ``runs_per_session``,
or BIDS events; see ``trial_layout.subject_layout``). Betas drift in scale between sessions, so
each voxel is z-scored within its session, and the file records ``normalized_within =
"session"`` so that training refuses splits that cut a session (held-out rows would otherwise
lend their statistics to training rows; see ``data/splits.py: check_split_keeps_groups``).
``zscore=false`` stores the betas as released. ``.npy`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.release import IMGNAMES, STIM_LISTS
from bold5000_ae.prepare.sources.roi import ROI_ORDER
from bold5000_ae.prepare.sources.trial_layout import (
    TRIALS_PER_RUN,
    UNKNOWN_SESSION,
    check_list_length,
    layout_table,
    stim_list_path,
    subject_layout,
)
from bold5000_ae.prepare.stimuli import read_stimulus_list
from bold5000_ae.utils.errors import InputError

DEFAULT_KIND = "TYPED-FITHRF-GLMDENOISE-RR"


def _load_npy(path: Path) -> np.ndarray:
    try:
        data = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError) as exc:
        raise InputError(path, f"not a readable .npy array ({exc})") from None
    if data.ndim != 2 or data.dtype.kind not in "fiu":
        raise InputError(path, f"expected a 2-D numeric (trials, voxels) array, found "
                               f"{data.dtype} {data.shape}")
    return data


class RoiBetasSource:
    """One unit per subject: its ROI ``.npy`` files, rows matched to its image list."""

    def __init__(self, root: str | Path, stim_list: str | None = None,
                 subjects: Sequence[int] = (1,), rois: Sequence[str] | None = None,
                 kind: str = DEFAULT_KIND, zscore: bool = True,
                 runs_per_session: Sequence[int] | None = None,
                 events_root: str | Path | None = None,
                 presentation_root: str | Path | None = None,
                 trials_per_run: int = TRIALS_PER_RUN, task: str = "5000scenes") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "ROI betas folder not found")
        self.stim_list, self.kind, self.zscore = stim_list, kind, zscore
        self.subjects = [int(s) for s in subjects]
        self.runs_per_session = [int(r) for r in runs_per_session] if runs_per_session else None
        self.events_root = events_root
        self.presentation_root = Path(presentation_root) if presentation_root else self.root
        self.trials_per_run, self.task = trials_per_run, task
        pattern = re.compile(rf"^CSI(\d+)_GLMbetas-{re.escape(kind)}_allses_(\w+)\.npy$")
        found: dict[int, dict[str, Path]] = {}
        for path in sorted(self.root.rglob(f"CSI*_GLMbetas-{kind}_allses_*.npy")):
            match = pattern.match(path.name)
            if match:
                found.setdefault(int(match.group(1)), {}).setdefault(match.group(2), path)
        self._files: dict[str, dict[str, Path]] = {}
        for sub in self.subjects:
            have = found.get(sub, {})
            if not have:
                raise InputError(self.root, f"no CSI{sub}_GLMbetas-{kind}_allses_*.npy files "
                                            "below it")
            order = ([r for r in ROI_ORDER if r in have] + sorted(set(have) - set(ROI_ORDER))
                     if not rois else list(rois))
            missing = [r for r in order if r not in have]
            if missing or len(set(order)) != len(order):
                raise InputError(self.root, f"CSI{sub}: unknown or repeated ROI(s) "
                                            f"{missing or order}; found: {', '.join(sorted(have))}")
            self._files[f"sub-CSI{sub}"] = {r: have[r] for r in order}
        self.rois = list(next(iter(self._files.values())))
        self._widths: dict[str, int] | None = None

    def units(self) -> list[str]:
        return list(self._files)

    def _list_path(self, unit: str) -> Path:
        return stim_list_path(self.stim_list, int(unit.removeprefix("sub-CSI")), self.root,
                              IMGNAMES + STIM_LISTS)

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        """(V, 1, 1) all-true mask, identity affine: columns, not a grid (as ``roi.py``)."""
        if self._widths is None:
            first: dict[str, int] | None = None
            for unit, files in self._files.items():
                if list(files) != self.rois:
                    raise InputError(self.root, f"{unit} has ROIs {list(files)}, the first "
                                                f"subject {self.rois}")
                widths = {r: _load_npy(p).shape[1] for r, p in files.items()}
                if first is not None and widths != first:
                    raise InputError(next(iter(files.values())), f"ROI widths {widths} differ "
                                     f"from {first}: subjects have their own voxels; prepare "
                                     "one subject per file")
                first = widths
            self._widths = first
        return np.ones((sum(self._widths.values()), 1, 1), bool), np.eye(4)

    def load(self, unit: str) -> UnitSamples:
        subject = int(unit.removeprefix("sub-CSI"))
        list_path = self._list_path(unit)
        names = read_stimulus_list(list_path)
        columns = []
        for roi, path in self._files[unit].items():
            data = np.asarray(_load_npy(path), dtype=np.float32)
            if data.shape[0] != len(names):
                raise InputError(path, f"expected ({len(names)} trials of {list_path.name}, "
                                       f"voxels), found {data.shape}")
            bad = int((~np.isfinite(data)).sum())
            if bad:
                raise InputError(path, f"{roi}: {bad} NaN or Inf voxel values")
            columns.append(data)
        check_list_length(names, len(columns[0]), list_path, exact=True)
        runs, layout_from = subject_layout(
            subject, names, list_path, runs_per_session=self.runs_per_session,
            events_root=self.events_root, presentation_root=self.presentation_root,
            task=self.task, trials_per_run=self.trials_per_run)
        layout = layout_table(len(names), runs, self.trials_per_run)
        bold = np.concatenate(columns, axis=1)
        if self.zscore:
            if (layout.session == UNKNOWN_SESSION).any():
                raise InputError(self.root, f"CSI{subject}: z-scoring per session needs the "
                                            "sessions: no presentation files found; give "
                                            "runs_per_session or events_root, or zscore=false")
            for ses in np.unique(layout.session):
                rows = layout.session.to_numpy() == ses
                bold[rows] = StandardScaler().fit_transform(bold[rows])
        samples = pd.DataFrame({"subject": subject, "session": layout.session,
                                "run": layout.run, "trial": layout.trial, "offset_s": np.nan,
                                "presented_name": names, "img_type": None})
        return UnitSamples(bold=bold.astype(np.float32), samples=samples,
                           notes={"layout_from": layout_from})

    def describe(self) -> dict[str, Any]:
        widths = self._widths or {}
        return {"source": "roi_betas", "root": str(self.root), "grid_kind": "roi_columns",
                "mask_layout": "(V, 1, 1) all true, identity affine; columns are ROIs "
                               "concatenated in roi_order",
                "kind": self.kind, "roi_order": self.rois,
                "roi_widths": [widths.get(r) for r in self.rois], "subjects": self.subjects,
                "files": {u: {r: str(p) for r, p in f.items()} for u, f in self._files.items()},
                "stim_list": self.stim_list, "runs_per_session": self.runs_per_session,
                "events_root": str(self.events_root) if self.events_root else None,
                "presentation_root": str(self.presentation_root),
                "trials_per_run": self.trials_per_run,
                "zscore": "per voxel within session" if self.zscore else None,
                "normalized_within": "session" if self.zscore else None}
