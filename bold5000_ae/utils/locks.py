"""One writer per output: an advisory ``flock`` on a small lock file beside (or inside) it.

Why: two prepares into one ``X.h5`` used to share ``X.h5.parts/`` and silently mix runs of two
configurations; two trainings in one run folder both crashed and left a config that no longer
matched the checkpoint. A second writer now stops at once with one line naming the holder's PID
(exit 2). ``flock`` is released by the kernel when the holder dies, even by SIGKILL, so a stale
lock never blocks the next run; the lock file itself is left in place (deleting it would let a
third process lock a different inode while the second still waits on the old one).

Locks are held until the process exits (or :func:`release`): an entry point takes them once, and
re-taking a lock this process already holds is a no-op, so an in-process caller and a Hydra
callback may both ask for the same one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from bold5000_ae.utils.errors import InputError

_HELD: dict[str, int] = {}


def lock_path_for(output: str | Path, inside: bool = False) -> Path:
    """``<output>.lock`` beside a file or a folder that is replaced whole; ``<dir>/.lock`` inside
    a folder that is written into in place (a run folder)."""
    output = Path(output).expanduser().absolute()
    return output / ".lock" if inside else output.with_name(output.name + ".lock")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"PID {pid}" if pid.isdigit() else "another process"


def acquire(output: str | Path, what: str = "output", inside: bool = False) -> Path:
    """Take the exclusive lock for ``output`` or raise a one-line InputError naming the holder.

    ``what`` says in the message what is being written (``prepared file``, ``run folder``...).
    """
    path = lock_path_for(output, inside)
    key = str(path)
    if key in _HELD:
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise InputError(output, f"cannot create the lock file {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise InputError(output, f"{what} is being written by {_holder(path)} (lock {path}); "
                                 "wait for it to finish or stop it") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD[key] = fd
    return path


def release(output: str | Path, inside: bool = False) -> None:
    """Drop a lock this process holds (tests, long-lived processes); a no-op otherwise."""
    fd = _HELD.pop(str(lock_path_for(output, inside)), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def claim_output(output: str | Path, what: str, folder: bool = False) -> Path:
    """Before any work: refuse an output that is the wrong kind (a folder where a file goes) or
    in a folder this user cannot write, then take its lock. One call per entry point."""
    output = Path(output).expanduser().absolute()
    if not folder and output.is_dir():
        raise InputError(output, "is an existing folder; give a file name for the output")
    if folder and output.exists() and not output.is_dir():
        raise InputError(output, "is an existing file; give a folder for the output")
    parent = output.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(parent, "permission denied: this folder is not writable")
    return acquire(output, what)
