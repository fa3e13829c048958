"""What a job prints, and where: one Hydra callback (``JobOutput``, conf/hydra/default.yaml).

- Lightning attaches its own console handler and stops propagation when it is imported before
  logging is configured, so its lines never reached ``<run>/train.log``: the handler is dropped
  and propagation restored, and the job log carries Lightning's lines with ours.
- Known noise is filtered: Lightning's "💡 Tip" adverts for its cloud products and warnings
  listed in ``NOISE`` (deprecations inside libraries, not in this code, and hints that do not
  apply to the in-memory datasets used here).
- Parallel jobs (joblib) write to one terminal: each line a job prints starts with
  ``[job <n>]``, so interleaved lines can be told apart.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import warnings
from typing import Any, TextIO

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning", "pytorch_lightning")
ADVERT = "💡 Tip"
NOISE = (  # (message regex, category): warnings seen in every job that say nothing about it
    (r".*does not have many workers.*", UserWarning),
    (r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*", Warning),
    (r".*is deprecated.*", DeprecationWarning),
    (r".*is deprecated.*", FutureWarning),
)


class DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(ADVERT)


class PrefixedStream:
    """A text stream that starts every line with ``prefix``; everything else is delegated."""

    def __init__(self, stream: TextIO, prefix: str) -> None:
        self.stream, self.prefix, self._line_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for piece in text.splitlines(keepends=True):
            out.append((self.prefix if self._line_start else "") + piece)
            self._line_start = piece.endswith("\n")
        self.stream.write("".join(out))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def route_lightning_to_root() -> None:
    """Lightning's records go through the root handlers (console and ``train.log``)."""
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:
                logger.removeHandler(handler)
        logger.propagate = True


def quiet_known_noise() -> None:
    for message, category in NOISE:
        warnings.filterwarnings("ignore", message=message, category=category)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, DropAdverts) for f in handler.filters):
            handler.addFilter(DropAdverts())


class JobOutput(Callback):
    """Per job: Lightning into the job log, noise filtered, ``[job n]`` prefixes in workers."""

    def __init__(self, prefix_parallel_jobs: bool = True) -> None:
        self.prefix_parallel_jobs = prefix_parallel_jobs
        self._streams: tuple[TextIO, TextIO] | None = None

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        route_lightning_to_root()
        quiet_known_noise()
        in_worker = multiprocessing.parent_process() is not None
        if not (self.prefix_parallel_jobs and in_worker and "num" in config.hydra.job):
            return
        prefix = f"[job {config.hydra.job.num}] "
        self._streams = (sys.stdout, sys.stderr)
        sys.stdout = PrefixedStream(sys.stdout, prefix)  # type: ignore[assignment]
        sys.stderr = PrefixedStream(sys.stderr, prefix)  # type: ignore[assignment]
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream in self._streams:
                handler.setStream(sys.stdout if handler.stream is self._streams[0]
                                  else sys.stderr)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if self._streams is None:
            return
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and isinstance(handler.stream,
                                                                         PrefixedStream):
                handler.setStream(handler.stream.stream)
        sys.stdout, sys.stderr = self._streams
        self._streams = None
