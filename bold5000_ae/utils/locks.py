"""One writer per output: an advisory ``flock`` on a small lock file beside (or inside) it.

Why: two prepares into one ``X.h5`` would share ``X.h5.parts/`` and silently mix runs of two
configurations; two trainings in one run folder would both crash and leave a config that no
longer matches the checkpoint. A second writer stops at once with one line naming the holder's PID
(exit 2). ``flock`` is released by the kernel when the holder dies, even by SIGKILL, so a stale
lock never blocks the next run.

The lock file is removed when its writer ends (:func:`release`, also at interpreter exit), so no
``.lock`` is left beside a finished output. Removing it is safe because the holder unlinks it
*while still holding the lock*, and every locker, once its ``flock`` succeeds, checks that the
path still names the inode it locked; if not (it waited on a file that has since been unlinked)
it retries on the new file. Two writers can therefore never both hold "the" lock of one output.
A lock file left by a killed writer is simply taken over by the next one.

Locks are held until the process exits (or :func:`release`): an entry point takes them once, and
re-taking a lock this process already holds is a no-op, so an in-process caller and a Hydra
callback may both ask for the same one.
"""

from __future__ import annotations

import atexit
import errno
import fcntl
import os
from pathlib import Path

from bold5000_ae.utils.errors import InputError

_HELD: dict[str, int] = {}
_REASONS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.EROFS: "read-only file system"}
_ATTEMPTS = 20  # re-locks after finding the locked file unlinked; each needs another holder


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


def _still_linked(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file open as ``fd`` (not unlinked or replaced)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)


def _drop(fd: int, path: Path) -> None:
    """Unlink ``path`` while ``fd`` still holds its lock, then let the lock go."""
    try:
        if _still_linked(fd, path):
            path.unlink()
    except OSError:
        pass  # a read-only folder: the empty lock file stays, harmless
    finally:
        os.close(fd)


def _fail(output: str | Path, path: Path, exc: OSError) -> InputError:
    reason = _REASONS.get(exc.errno or 0, exc.strerror or str(exc))
    return InputError(output, f"cannot create the lock file {path}: {reason}")


def _open_locked(output: str | Path, path: Path, what: str) -> int:
    """Open and lock ``path``, retrying when the file locked was unlinked meanwhile."""
    for _ in range(_ATTEMPTS):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise _fail(output, path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise InputError(output, f"{what} is being written by {_holder(path)} (lock "
                                     f"{path}); wait for it to finish or stop it") from None
        if _still_linked(fd, path):
            return fd
        os.close(fd)  # its holder unlinked it as it ended: lock the current file instead
    raise InputError(output, f"cannot lock {path}: it keeps being replaced")


def acquire(output: str | Path, what: str = "output", inside: bool = False) -> Path:
    """Take the exclusive lock for ``output`` or raise a one-line InputError naming the holder.

    ``what`` says in the message what is being written (``prepared file``, ``run folder``...).
    A full disk or read-only folder is one line too, and leaves no lock file behind.
    """
    path = lock_path_for(output, inside)
    key = str(path)
    if key in _HELD:
        return path
    fd = _open_locked(output, path, what)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:
        _drop(fd, path)
        raise _fail(output, path, exc) from None
    _HELD[key] = fd
    return path


def release(output: str | Path, inside: bool = False) -> None:
    """Drop a lock this process holds and remove its file; a no-op otherwise."""
    path = lock_path_for(output, inside)
    fd = _HELD.pop(str(path), None)
    if fd is not None:
        _drop(fd, path)


@atexit.register
def release_all() -> None:
    """At interpreter exit (normal end, error, Ctrl-C): remove every lock file still held."""
    for key in list(_HELD):
        _drop(_HELD.pop(key), Path(key))


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
