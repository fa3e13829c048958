"""One error type for bad input, so every entry point can print one line and exit non-zero.

Readers raise ``InputError(path, problem)``; the entry points (see ``cli.py``) catch it and print
``error: <path>: <problem>`` without a traceback unless ``HYDRA_FULL_ERROR=1``.
"""

from __future__ import annotations

from os import PathLike


class InputError(Exception):
    """Bad user input: names the file (or config key) and the problem in one line."""

    def __init__(self, source: str | PathLike[str], problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")
