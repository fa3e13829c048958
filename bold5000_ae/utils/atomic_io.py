"""Write-then-rename helpers: a crash never leaves a half-written file under the real name.

Why the extras around the rename:
- the result takes the process umask, like any file the user writes (``mkstemp`` alone gives
  0600, which made a lab's shared HDF5 files unreadable to colleagues);
- the temporary name carries the writer's PID, so a later write to the same path removes the
  orphans of writers that died (SIGKILL leaves full-size hidden ``.tmp`` files otherwise);
- a full disk or a folder without write permission becomes one line naming the path
  (``InputError``), with the partial file removed, instead of a library traceback;
- ``expected_bytes`` checks free space first, with a margin: HDF5 can crash the process
  outright when the disk fills mid-write. The margin is proportional (10 %: HDF5's chunk index,
  about 100 bytes per one-row chunk, attributes and filesystem block rounding all grow with the
  file) with a 2 MiB floor for the fixed part (superblock, groups, the recorded config), so a
  small file is not asked for many times its own size.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bold5000_ae.utils.errors import InputError

# free space kept beyond the expected size: 10 % of it, at least 2 MiB (see the module docstring)
MARGIN_FRACTION = 0.10
MARGIN_FLOOR_BYTES = 2 * 2**20
_DISK_ERRORS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied",
                errno.EROFS: "read-only file system"}


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_orphans(path: str | Path) -> list[Path]:
    """Remove ``.<name>.<pid>.*.tmp`` siblings of ``path`` left by writers that are dead."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.[^/]*\.tmp$")
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        found = pattern.match(entry.name)
        if found and int(found.group(1)) != os.getpid() and not pid_alive(int(found.group(1))):
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def disk_error(exc: BaseException) -> str | None:
    """The one-line reason for a disk-full or permission error (also inside h5py's messages)."""
    code = getattr(exc, "errno", None)
    if code in _DISK_ERRORS:
        return _DISK_ERRORS[code]
    text = str(exc)
    for code, reason in _DISK_ERRORS.items():
        if os.strerror(code) in text or f"errno = {code}," in text:
            return reason
    return None


def require_free_space(path: str | Path, expected_bytes: int) -> None:
    """Refuse before writing ``expected_bytes`` into ``path``'s folder when the disk lacks them
    plus the margin, naming both numbers."""
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    need = int(expected_bytes + max(expected_bytes * MARGIN_FRACTION, MARGIN_FLOOR_BYTES))
    free = shutil.disk_usage(folder).free
    if free < need:
        raise InputError(path, f"not enough free space: {free / 2**20:.0f} MiB free, "
                               f"{need / 2**20:.0f} MiB needed (including a margin)")


def _prepare_parent(path: Path) -> None:
    if path.is_dir():
        raise InputError(path, "is an existing folder; give a file name for the output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(path.parent, f"cannot create the output folder: "
                                      f"{disk_error(exc) or exc.strerror}") from exc
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise InputError(path.parent, "permission denied: this folder is not writable")
    clean_orphans(path)


def _temporary_sibling(path: Path) -> Path:
    """A fresh hidden ``.<name>.<pid>.<random>.tmp`` name beside ``path``. The caller creates it
    inside its ``try``: a Ctrl-C between creating it and entering the ``try`` (as
    ``tempfile.mkstemp`` followed by ``try`` allows) would leave it behind."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_path(path: str | Path, expected_bytes: int | None = None) -> Iterator[Path]:
    """Yield a temporary sibling path; on success fsync it and rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left as it was; disk-full
    and permission errors become a one-line InputError naming ``path``.
    """
    path = Path(path)
    _prepare_parent(path)
    if expected_bytes:
        require_free_space(path, expected_bytes)
    tmp = _temporary_sibling(path)
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        reason = disk_error(exc)
        if reason is None:
            raise
        tmp.unlink(missing_ok=True)
        raise InputError(path, f"{reason} while writing; the partial file was removed") from exc
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success rename it to ``path`` (replacing nothing:
    an existing ``path`` is an error, so finished outputs are never overwritten)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: already exists; remove it or choose another output")
    _prepare_parent(path)
    tmp = _temporary_sibling(path)
    try:
        tmp.mkdir(mode=0o700)
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        reason = disk_error(exc)
        if reason is None:
            raise
        raise InputError(path, f"{reason} while writing; the partial folder was removed") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
