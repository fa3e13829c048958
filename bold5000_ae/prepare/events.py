"""BOLD5000 event files (BIDS ``*_events.tsv``) and the choice of volumes after each onset.

The real files carry eleven named columns and an unnamed last one (the reaction time), which
pandas would call ``Unnamed: 11``; we name it ``reaction_time``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bold5000_ae.utils.errors import InputError

REQUIRED_COLUMNS = ("onset", "duration", "ImgName")


def read_events(path: str | Path) -> pd.DataFrame:
    """Read one events file; rows sorted by onset, with a 1-based ``Trial`` column guaranteed."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "events file not found")
    try:
        events = pd.read_csv(path, sep="\t")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"not a readable tab-separated events file ({exc})") from None
    events = events.rename(columns=lambda c: "reaction_time" if str(c).startswith("Unnamed")
                           else str(c).strip())
    missing = [c for c in REQUIRED_COLUMNS if c not in events.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}")
    if events.empty:
        raise InputError(path, "no events")
    check_onsets(events, path)
    check_image_names(events, path)
    events = events.sort_values("onset", kind="stable").reset_index(drop=True)
    if "Trial" not in events.columns:
        events["Trial"] = np.arange(1, len(events) + 1)
    return events


def _plain(value: object) -> str:
    """A cell as the user typed it: ``'abc'`` for text, ``n/a`` for an empty cell, plain
    numbers otherwise (never NumPy's ``np.float64(nan)``)."""
    if isinstance(value, str):
        return repr(value)
    if value is None or pd.isna(value):
        return "n/a (empty)"
    return str(value.item() if isinstance(value, np.generic) else value)


def check_image_names(events: pd.DataFrame, path: Path) -> None:
    """Every trial names its stimulus: an empty or ``n/a`` ``ImgName`` has no image to attach
    and no label, so it is refused naming the line (header = line 1)."""
    names = events["ImgName"]
    empty = np.flatnonzero(names.isna().to_numpy() | (names.astype(str).str.strip() == "")
                           .to_numpy())
    if len(empty):
        raise InputError(path, f"line {empty[0] + 2}: ImgName is empty or n/a ({len(empty)} "
                               "such rows); every trial needs the name of its stimulus")


def check_onsets(events: pd.DataFrame, path: Path) -> None:
    """Onsets are numbers, not negative, and no two rows share one: a duplicated row would
    become a duplicated sample. Rows are named as in the file (header = line 1)."""
    onsets = pd.to_numeric(events["onset"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(onsets))
    if len(bad):
        raise InputError(path, f"line {bad[0] + 2}: onset {_plain(events['onset'].iloc[bad[0]])} "
                               f"is not a number ({len(bad)} such rows)")
    negative = np.flatnonzero(onsets < 0)
    if len(negative):
        raise InputError(path, f"line {negative[0] + 2}: onset {float(onsets[negative[0]])} s is "
                               "negative (onsets count from the start of the run)")
    repeated = np.flatnonzero(pd.Series(onsets).duplicated(keep="first").to_numpy())
    if len(repeated):
        first = int(np.flatnonzero(onsets == onsets[repeated[0]])[0])
        raise InputError(path, f"line {repeated[0] + 2}: onset {float(onsets[repeated[0]])} s "
                               f"repeats line {first + 2} (duplicated event rows would "
                               "duplicate samples)")
    events["onset"] = onsets


def trial_durations(events: pd.DataFrame, path: str | Path) -> np.ndarray:
    """Stimulus durations in seconds, checked: a regressor per trial (``mode: lss``) is the
    HRF convolved with a box of this length, so each must be a number, not negative. Only the
    GLM needs them, so only it checks them."""
    durations = pd.to_numeric(events["duration"], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(durations) | (durations < 0))
    if len(bad):
        raise InputError(path, f"the trial at onset {float(events['onset'].iloc[bad[0]])} s has "
                               f"duration {_plain(events['duration'].iloc[bad[0]])}, not a "
                               f"duration in seconds ({len(bad)} such rows)")
    return durations


def sample_frames(onsets: np.ndarray, offsets_s: Sequence[float], tr: float,
                  n_frames: int, source: str | Path) -> np.ndarray:
    """Frame index of each (onset, offset): the volume acquired nearest to onset + offset.

    Returns an int array (trials, offsets). Raises InputError when a wanted volume lies beyond
    the run, which means the events do not belong to this run (or the run is truncated).
    """
    times = np.asarray(onsets, dtype=float)[:, None] + np.asarray(offsets_s, dtype=float)[None]
    frames = np.rint(times / tr).astype(int)
    if frames.min() < 0 or frames.max() >= n_frames:
        raise InputError(source, f"events need volume {frames.max()} at {times.max():.1f} s but "
                                 f"the run has {n_frames} volumes (TR {tr} s): events do not "
                                 "fit the run")
    return frames
