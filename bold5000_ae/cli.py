"""How entry points report bad input: one line, non-zero exit, no traceback.

Set ``HYDRA_FULL_ERROR=1`` to get the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from hydra.errors import InstantiationException

from bold5000_ae.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_BAD_INPUT = 2


def _root_input_error(exc: BaseException) -> InputError | None:
    while exc is not None:
        if isinstance(exc, InputError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def reports_input_errors(func: F) -> F:
    """Wrap a Hydra task function: InputError (also inside Hydra's instantiation errors) becomes
    ``error: <source>: <problem>`` on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, InstantiationException) as exc:
            root = _root_input_error(exc)
            if root is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {root}", file=sys.stderr)
            raise SystemExit(EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]
