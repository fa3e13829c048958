"""A Ctrl-C that cannot be lost before a writer commits.

Python raises ``KeyboardInterrupt`` wherever the main thread is when SIGINT arrives. Raised
inside a finalizer (``__del__``), it is printed as "Exception ignored" and dropped, and the
program carries on as if no Ctrl-C had come, then commits what it wrote. A writer that promises
"interrupted: nothing was written" records the signal as well (``recorded_sigint``) and checks
the record just before it commits (``raise_if_interrupted``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_received = threading.Event()


def _record_and_raise(signum: int, frame: FrameType | None) -> None:
    _received.set()
    raise KeyboardInterrupt


@contextmanager
def recorded_sigint() -> Iterator[None]:
    """SIGINT raises ``KeyboardInterrupt`` as usual and is also recorded, inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = signal.signal(signal.SIGINT, _record_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def raise_if_interrupted() -> None:
    """``KeyboardInterrupt`` if a recorded SIGINT came (even one whose exception was lost)."""
    if _received.is_set():
        raise KeyboardInterrupt
