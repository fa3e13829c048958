"""What every raw-data source gives the preparation driver.

A source splits its input into units (a run, a session, a file) that are processed one at a
time, so preparation can resume after a crash at unit granularity, and returns for each unit the
in-mask BOLD rows and one metadata row per sample. Images and labels are attached afterwards by
``data/assemble.py``, the same way for every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

# Columns a unit's sample table must have (before images and labels are attached).
SAMPLE_COLUMNS = ("subject", "session", "run", "trial", "offset_s", "presented_name")


@dataclass
class UnitSamples:
    """The samples of one unit: ``bold`` (n, V) in-mask, ``samples`` n rows of SAMPLE_COLUMNS
    (``img_type`` optional)."""

    bold: np.ndarray
    samples: pd.DataFrame


class Source(Protocol):
    """A raw-data reader. ``units()`` is cheap; ``load(unit)`` does the work for one unit."""

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]: ...

    def units(self) -> list[str]: ...

    def load(self, unit: str) -> UnitSamples: ...

    def describe(self) -> dict[str, Any]: ...
