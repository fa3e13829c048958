"""Errors the entry points report in one line instead of a traceback (``cli/reporting.py``).

``InputError(path, problem)``: bad user input, naming the file (or config key) and the problem.
``TrainingDiverged``: the loss became NaN or Inf; names the step and the last good checkpoint.
"""

from __future__ import annotations

from os import PathLike


class ReportedError(Exception):
    """Base of the errors printed as ``error: <message>`` with a non-zero exit status."""

    exit_code = 1


class InputError(ReportedError):
    """Bad user input: names the file (or config key) and the problem in one line."""

    exit_code = 2

    def __init__(self, source: str | PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


class TrainingDiverged(ReportedError):
    """The training loss stopped being finite; carrying on would train on garbage."""

    exit_code = 3
