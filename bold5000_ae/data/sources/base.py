"""What every raw-data source gives the preparation driver.

A source splits its input into units (a run, a session, a file) that are processed one at a
time, so preparation can resume after a crash at unit granularity, and returns for each unit the
in-mask BOLD rows and one metadata row per sample. Images and labels are attached afterwards by
``data/assemble.py``, the same way for every source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bold5000_ae.utils.errors import InputError

# Columns a unit's sample table must have (before images and labels are attached).
SAMPLE_COLUMNS = ("subject", "session", "run", "trial", "offset_s", "presented_name")


@dataclass
class UnitSamples:
    """The samples of one unit: ``bold`` (n, V) in-mask, ``samples`` n rows of SAMPLE_COLUMNS
    (``img_type`` optional).

    ``notes``: what the source learnt reading this unit (e.g. ``{"layout_from": "events"}``),
    JSON values. They travel with the unit's part file, so they reach the HDF5 attributes as
    ``source[key][unit]`` even when the unit was read in a joblib worker, another cluster job
    or an earlier, resumed prepare (a source object's own state would not).
    """

    bold: np.ndarray
    samples: pd.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)


class Source(Protocol):
    """A raw-data reader. ``units()`` is cheap; ``load(unit)`` does the work for one unit."""

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]: ...

    def units(self) -> list[str]: ...

    def load(self, unit: str) -> UnitSamples: ...

    def describe(self) -> dict[str, Any]: ...


def check_split_keeps_groups(attrs: dict[str, Any], trials: pd.DataFrame,
                             assignment: np.ndarray, path: str) -> None:
    """Refuse a split that cuts a group the source normalised within.

    Why: a source that z-scores within a session (``betas``, ``roi_betas``) gives every row of a
    session the statistics of all that session's rows. If some of those rows are validation or
    test rows, training rows carry held-out statistics. Splits that keep sessions whole
    (``holdout_sessions``, ``kfold_sessions``, ``cross_subject``) are leak-free; others are
    refused here rather than silently reshaped, so the split a run reports is the one it used.
    """
    source = attrs.get("source")
    if not isinstance(source, dict):  # files written by other tools name their source only
        return
    within = source.get("normalized_within") or (  # files prepared before the attribute
        "session" if source.get("zscore") == "per voxel within session" else None)
    if not within:
        return
    keys = trials["subject"].astype(str) + "/" + trials[within].astype(str)
    used = assignment != "excluded"
    sides = pd.DataFrame({"key": keys[used], "side": assignment[used]})
    cut = int((sides.groupby("key").side.nunique() > 1).sum())
    if cut:
        raise InputError(path, f"rows are z-scored within each {within} but the split puts "
                               f"{cut} {within}(s) on more than one side (held-out statistics "
                               f"in training rows); use data/split=holdout_sessions or "
                               f"kfold_sessions, or prepare with source.reader.zscore=false")
