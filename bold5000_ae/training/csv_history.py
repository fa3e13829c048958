"""A CSV logger whose ``metrics.csv`` survives a resume.

Why our own: Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its folder is not empty, so a
resumed run (or a sweep rerun) lost its whole history. :class:`AppendingCSVLogger` keeps the rows
logged before the checkpoint and appends after them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv``; on the first save drops the rows at or after the first
    new step (logged after the checkpoint the run resumed from) and appends."""

    def __init__(self, log_dir: str) -> None:
        self._trim = False
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = sorted(csv.DictReader(handle).fieldnames or [])
            self._trim = True

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes metrics.csv here; the history is kept instead."""

    def save(self) -> None:
        if self._trim and self.metrics:
            first = min(m["step"] for m in self.metrics)
            with open(self.metrics_file_path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if _step(r) < first]
            self._record_new_keys()
            with open(self.metrics_file_path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._trim = False
        super().save()


def _step(row: Mapping[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0


class AppendingCSVLogger(CSVLogger):
    """Lightning's CSVLogger whose ``metrics.csv`` survives a resume (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment
