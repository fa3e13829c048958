"""Where a stimulus-list row sits in the experiment: (session, run, trial).

Why: the release-1 ROI files, the GLMsingle betas and the single volumes carry no session or run,
only a row order that follows ``CSI{n}_stim_lists.txt``. Splits need sessions and runs, so the
readers map rows through a run layout: every run holds ``trials_per_run`` (37) trials and each
session holds a number of runs (9 or 10 in BOLD5000) that the list itself does not record. The
layout comes from the user (``runs_per_session``) or is counted from the BIDS event files.
Without either, sessions are unknown (0) and runs are numbered over the whole list, which still
keeps a run's trials together but refuses session splits (too few groups).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bold5000_ae.prepare.sources.release import (
    IMGNAMES,
    STIM_LISTS,
    check_against_list,
    find_presentation_runs,
    find_subject_list,
    presentation_layout,
)
from bold5000_ae.utils.errors import InputError

TRIALS_PER_RUN = 37
UNKNOWN_SESSION = 0
EVENTS_PATTERN = re.compile(r"sub-CSI(\d+)_ses-(\d+)_task-(\w+?)_run-(\d+)_events\.tsv$")


def subject_path(spec: str | Path, subject: int, default_name: str, **fields: Any) -> Path:
    """A per-subject file from a config value: a folder (``default_name`` inside it) or a path
    with ``{subject}`` (and other ``fields``) to fill in. Folders spare users quoting braces
    for Hydra on the command line."""
    path = Path(str(spec).format(subject=subject, **fields))
    return path / default_name.format(subject=subject, **fields) if path.is_dir() else path


def stim_list_path(spec: str | Path | None, subject: int, root: Path,
                   templates: Sequence[str] = STIM_LISTS + IMGNAMES) -> Path:
    """A subject's presentation-order list: a path pattern with ``{subject}``, or found by its
    published names (``templates``, in order of preference) in a folder, or below ``root``
    when ``spec`` is empty."""
    if spec is None or not str(spec):
        return find_subject_list(root, subject, templates)
    path = Path(str(spec).format(subject=subject, root=root))
    return find_subject_list(path, subject, templates) if path.is_dir() else path


def subject_layout(subject: int, names: Sequence[str], list_path: Path, *,
                   runs_per_session: Sequence[int] | None, events_root: str | Path | None,
                   presentation_root: str | Path | None, task: str,
                   trials_per_run: int) -> tuple[list[int] | None, str]:
    """(runs per session, where the numbers came from) for list-ordered rows of ``subject``.

    Precedence: ``runs_per_session``, then BIDS events, then the presentation files; the
    presentation files, when present, are also checked against the list (same images, same
    order) and against ``runs_per_session``, so a typed layout cannot silently disagree.
    """
    from_files = None
    runs = find_presentation_runs(presentation_root, subject) if presentation_root else []
    if runs:
        from_files, presented = presentation_layout(runs, trials_per_run)
        check_against_list(presented, names, list_path, presentation_root)
    if runs_per_session is not None:
        given = [int(r) for r in runs_per_session]
        if from_files is not None and given != from_files:
            raise InputError("runs_per_session", f"{given} disagrees with the presentation "
                                                 f"files under {presentation_root}: "
                                                 f"{from_files}")
        return given, "runs_per_session"
    if events_root is not None:
        return runs_per_session_from_events(events_root, subject, task), "events"
    if from_files is not None:
        return from_files, "presentation files"
    return None, "none (sessions unknown)"


def find_events(root: str | Path, subject: int, session: int, run: int,
                task: str = "5000scenes") -> Path | None:
    """The BIDS events file of one run anywhere under ``root`` (raw BIDS tree or a flat folder)."""
    name = f"sub-CSI{subject}_ses-{session:02d}_task-{task}_run-{run:02d}_events.tsv"
    root = Path(root)
    for candidate in (root / f"sub-CSI{subject}" / f"ses-{session:02d}" / "func" / name,
                      root / name):
        if candidate.is_file():
            return candidate
    found = sorted(root.rglob(name))
    return found[0] if found else None


def runs_per_session_from_events(root: str | Path, subject: int,
                                 task: str = "5000scenes") -> list[int]:
    """Count the runs of each session of ``subject`` from the event files under ``root``.

    Sessions must be numbered 1..S without gaps: a gap means files are missing, and every later
    row would be assigned to the wrong session.
    """
    root = Path(root)
    counts: Counter[int] = Counter()
    for path in root.rglob(f"sub-CSI{subject}_ses-*_events.tsv"):
        match = EVENTS_PATTERN.search(path.name)
        if match and match.group(3) == task:
            counts[int(match.group(2))] += 1
    if not counts:
        raise InputError(root, f"no sub-CSI{subject}_ses-*_task-{task}_run-*_events.tsv files")
    sessions = sorted(counts)
    if sessions != list(range(1, len(sessions) + 1)):
        raise InputError(root, f"event files of CSI{subject} cover sessions {sessions}; "
                               "sessions must run from 1 without gaps")
    return [counts[s] for s in sessions]


def layout_table(n_trials: int, runs_per_session: Sequence[int] | None,
                 trials_per_run: int = TRIALS_PER_RUN) -> pd.DataFrame:
    """(session, run, trial) for rows 0..n_trials-1 of a subject's stimulus list."""
    rows = np.arange(n_trials)
    if runs_per_session is None:
        return pd.DataFrame({"session": UNKNOWN_SESSION, "run": rows // trials_per_run + 1,
                             "trial": rows % trials_per_run + 1})
    runs = np.asarray(list(runs_per_session), dtype=int)
    planned = int(runs.sum()) * trials_per_run
    if planned < n_trials:
        raise InputError("runs_per_session", f"{list(runs)} x {trials_per_run} trials holds "
                                             f"{planned} trials, fewer than the {n_trials} rows")
    session_of_run = np.repeat(np.arange(1, len(runs) + 1), runs)
    first_run = np.concatenate([[0], np.cumsum(runs)[:-1]])
    global_run = rows // trials_per_run
    session = session_of_run[global_run]
    return pd.DataFrame({"session": session,
                         "run": global_run - first_run[session - 1] + 1,
                         "trial": rows % trials_per_run + 1})


def check_list_length(names: Sequence[str], n_trials: int, path: str | Path,
                      exact: bool = True) -> None:
    """A stimulus list shorter than the trials is always wrong; longer is wrong when ``exact``."""
    if len(names) < n_trials:
        raise InputError(path, f"stimulus list shorter than the trials: {len(names)} names "
                               f"for {n_trials} trials")
    if exact and len(names) != n_trials:
        raise InputError(path, f"stimulus list has {len(names)} names but the data hold "
                               f"{n_trials} trials (another subject's list?)")
