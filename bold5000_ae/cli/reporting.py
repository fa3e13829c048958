"""How entry points report bad input and diverged runs: one line, non-zero exit, no traceback.

Set ``HYDRA_FULL_ERROR=1`` to get the traceback instead.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bold5000_ae.utils.atomic_io import disk_error
from bold5000_ae.utils.errors import InputError, ReportedError

F = TypeVar("F", bound=Callable[..., Any])


def _root_reported_error(exc: BaseException | None) -> ReportedError | None:
    while exc is not None:
        if isinstance(exc, ReportedError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def reports_input_errors(func: F) -> F:
    """Wrap a Hydra task function: a ReportedError (also inside Hydra's instantiation errors)
    becomes ``error: <message>`` on stderr and its exit status (2 bad input, 3 diverged)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MissingMandatoryValue as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {exc.full_key}: missing mandatory value (the config has ???); set it "
                  "on the command line", file=sys.stderr)
            raise SystemExit(InputError.exit_code) from None
        except (ReportedError, InstantiationException) as exc:
            root = _root_reported_error(exc)
            if root is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {root}", file=sys.stderr)
            raise SystemExit(root.exit_code) from None
        except (MemoryError, RuntimeError, OSError) as exc:
            line = _resource_error(exc, args)
            if line is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {line}", file=sys.stderr)
            raise SystemExit(InputError.exit_code) from None

    return wrapper  # type: ignore[return-value]


# torch's CPU allocator raises a plain RuntimeError when malloc fails (ulimit -v, a full RAM)
CPU_OUT_OF_MEMORY = ("can't allocate memory", "not enough memory")


def _output_dir(args: tuple[Any, ...]) -> str | None:
    """The task's output folder (``cfg.paths.output_dir``), when its config is among ``args``."""
    cfg = next((a for a in args if isinstance(a, DictConfig)), None)
    folder = OmegaConf.select(cfg, "paths.output_dir", default=None,
                              throw_on_resolution_failure=False) if cfg is not None else None
    return str(folder) if folder else None


def _surviving_checkpoints(args: tuple[Any, ...]) -> str:
    """The checkpoints of the run (``cfg.paths.output_dir``) that a crash leaves intact."""
    folder = _output_dir(args)
    found = sorted(Path(folder, "checkpoints").glob("*.ckpt")) if folder else []
    if not found:
        return "no checkpoint was written yet"
    return "the checkpoints survive: " + ", ".join(str(p) for p in found)


def _resource_error(exc: BaseException, args: tuple[Any, ...]) -> str | None:
    """One line for running out of memory or disk (what ran out, what survives); None for any
    other error, which keeps its traceback."""
    text = str(exc).strip()
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
            isinstance(exc, RuntimeError) and any(m in text for m in CPU_OUT_OF_MEMORY)):
        what = "GPU memory" if "CUDA" in text or "GPU" in text else "host memory (RAM)"
        detail = text.splitlines()[0] if text else type(exc).__name__
        return (f"out of {what} ({detail}); {_surviving_checkpoints(args)}. Use a smaller "
                "data.batch_size (or model), or a machine with more memory")
    reason = disk_error(exc) if isinstance(exc, OSError) else None
    if reason is None:
        return None
    where = getattr(exc, "filename", None) or _output_dir(args) or "an output"
    return f"{where}: {reason} while writing; {_surviving_checkpoints(args)}"


CONFIG_ERRORS = (ConfigCompositionException, MissingConfigException, OverrideParseException)


def config_errors_exit_2(main: F) -> F:
    """Wrap a ``@hydra.main`` entry point: a config typo (unknown group option, key or override
    syntax) exits 2, the documented code for bad input, instead of Hydra's 1.

    Hydra prints its own one-line message and calls ``sys.exit(1)`` inside the ``except`` block
    that caught the composition error, so the error is the SystemExit's ``__context__``.
    """

    @functools.wraps(main)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return main(*args, **kwargs)
        except SystemExit as exc:
            if exc.code == 1 and isinstance(exc.__context__, CONFIG_ERRORS):
                raise SystemExit(InputError.exit_code) from None
            raise

    return wrapper  # type: ignore[return-value]
