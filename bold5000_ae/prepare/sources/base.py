"""What every raw-data source gives the preparation driver.

A source splits its input into units (a run, a session, a file) that are processed one at a
time, so preparation can resume after a crash at unit granularity, and returns for each unit the
in-mask BOLD rows and one metadata row per sample. Images and labels are attached afterwards by
``prepare/assemble.py``, the same way for every source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

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
