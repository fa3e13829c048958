"""Find the files of an official BOLD5000 release below the folder the user downloaded.

Why: the releases spell the same things in several ways (``CSI1`` and ``CSI01``, ``stim_lists``
and ``imgnames``, ``mat`` and ``h5`` folders) and nest them a few folders deep (``ROIs/``,
``BOLD5000_Stimuli/Stimuli_Presentation_Lists/``). Readers ask this module for "the stimulus
list of subject 1" or "the presentation runs of subject 1" given only ``source.root``; it looks
in the documented places first and then anywhere below the root, and names what it looked for
when nothing is there.

Per-run presentation files (``Stimuli_Presentation_Lists/CSI{n}/CSI{n}_sess{SS}/
CSI_sess{SS}_run{RR}.mat``) are the files the scanning script (``ScenesEventRelated.m`` in the
authors' BOLD5000-Scripts) loaded: a cell array ``cur_img_names``, one row per trial, holding the
image name (without ``rep_``) and its type (``imagenet``, ``coco``, ``scenes``, or ``rep_`` + one
of them). They record how many runs each session had, which the stimulus lists do not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bold5000_ae.prepare.stimuli import read_mat_cells
from bold5000_ae.utils.errors import InputError

# Subject-list file names as published, in the order a reader prefers them.
STIM_LISTS = ("CSI{subject}_stim_lists.txt", "CSI{subject:02d}_stim_lists.txt")
IMGNAMES = ("CSI{subject}_imgnames.txt", "CSI{subject:02d}_imgnames.txt")
PRESENTATION_KEY = "cur_img_names"
_RUN_FILE = re.compile(r"^CSI\d*_sess(\d+)_run(\d+)\.mat$")
_SESSION_DIR = re.compile(r"^CSI0*(\d+)_sess(\d+)$")


def subject_spellings(subject: int) -> tuple[str, str]:
    """``CSI1`` and ``CSI01``: the release uses both."""
    return f"CSI{subject}", f"CSI{subject:02d}"


def find_below(root: Path, names: Sequence[str], prefer: Sequence[str] = ()) -> Path | None:
    """The first of ``names`` found in ``root``, in a ``prefer`` subfolder, or anywhere below.

    Names are tried in order, so a reader's preferred spelling wins over a later one even when
    the later one sits higher in the tree.
    """
    root = Path(root)
    for name in names:
        for folder in ("", *prefer):
            candidate = root / folder / name
            if candidate.is_file():
                return candidate
        found = sorted(p for p in root.rglob(name) if p.is_file())
        if found:
            return found[0]
    return None


def find_subject_list(root: str | Path, subject: int, templates: Sequence[str]) -> Path:
    """A subject's presentation-order list (``stim_lists`` or ``imgnames``) below ``root``."""
    names = list(dict.fromkeys(t.format(subject=subject) for t in templates))
    found = find_below(Path(root), names, prefer=("stim_lists", "ROIs/stim_lists",
                                                  f"Stimuli_Presentation_Lists/CSI{subject}"))
    if found is None:
        raise InputError(root, f"no stimulus list for CSI{subject} found below it (looked for "
                               f"{', '.join(names)}); give source.stim_list")
    return found


@dataclass(frozen=True)
class PresentationRun:
    """One run's presentation file: where it is and which session and run it belongs to."""

    session: int
    run: int
    path: Path


def find_presentation_runs(root: str | Path, subject: int) -> list[PresentationRun]:
    """Every ``CSI_sess{SS}_run{RR}.mat`` of ``subject`` below ``root``, by (session, run).

    Empty when the tree holds none (the caller falls back to another layout source). Sessions
    and runs come from the folder and file names; they must number from 1 without gaps, since a
    gap means a missing file and every later trial would land in the wrong run.
    """
    root = Path(root)
    runs: dict[tuple[int, int], Path] = {}
    for folder in sorted(root.rglob("CSI*_sess*")):
        match = _SESSION_DIR.match(folder.name)
        if not folder.is_dir() or not match or int(match.group(1)) != subject:
            continue
        for path in sorted(folder.glob("*.mat")):
            run_match = _RUN_FILE.match(path.name)
            if not run_match:
                continue
            key = (int(run_match.group(1)), int(run_match.group(2)))
            if int(match.group(2)) != key[0]:
                raise InputError(path, f"file says session {key[0]}, its folder "
                                       f"{folder.name} session {int(match.group(2))}")
            runs.setdefault(key, path)
    if not runs:
        return []
    sessions = sorted({s for s, _ in runs})
    if sessions != list(range(1, len(sessions) + 1)):
        raise InputError(root, f"presentation files of CSI{subject} cover sessions {sessions}; "
                               "sessions must run from 1 without gaps")
    for ses in sessions:
        numbers = sorted(r for s, r in runs if s == ses)
        if numbers != list(range(1, len(numbers) + 1)):
            raise InputError(runs[(ses, numbers[-1])].parent,
                             f"runs {numbers} of session {ses}; runs must number from 1 "
                             "without gaps")
    return [PresentationRun(s, r, runs[(s, r)]) for s, r in sorted(runs)]


def read_presentation_run(path: str | Path) -> tuple[list[str], list[str]]:
    """(image names, ImgTypes) of one run file, one per trial in presentation order."""
    rows = read_mat_cells(path, PRESENTATION_KEY)
    return [name.strip() for name, _ in rows], [kind.strip() for _, kind in rows]


def presentation_layout(runs: Sequence[PresentationRun],
                        trials_per_run: int) -> tuple[list[int], list[str]]:
    """(runs per session, presented names in order) from a subject's run files.

    Every file must hold ``trials_per_run`` trials: the row layout of list-ordered data
    (``trial_layout.layout_table``) assumes it, so a short run is refused here, naming the file.
    Names get back the ``rep_`` prefix their ImgType carries, so they compare with the lists.
    """
    counts: dict[int, int] = {}
    names: list[str] = []
    for run in runs:
        run_names, types = read_presentation_run(run.path)
        if len(run_names) != trials_per_run:
            raise InputError(run.path, f"{len(run_names)} trials, expected {trials_per_run} "
                                       "(trials_per_run)")
        names += [("rep_" if t.lower().startswith("rep_") and not n.startswith("rep_") else "")
                  + n for n, t in zip(run_names, types)]
        counts[run.session] = counts.get(run.session, 0) + 1
    return [counts[s] for s in sorted(counts)], names


def check_against_list(presented: Sequence[str], names: Sequence[str], list_path: Path,
                       runs_root: str | Path) -> None:
    """The run files and the subject's list must name the same images in the same order."""
    def strip(name: str) -> str:
        return name.strip().removeprefix("rep_")

    for i, (a, b) in enumerate(zip(presented, names)):
        if strip(a) != strip(b):
            raise InputError(list_path, f"row {i + 1} names {b} but the presentation files "
                                        f"under {runs_root} show {a} there")
