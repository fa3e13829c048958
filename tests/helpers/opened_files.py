"""Which files under some folders any process opened, as the Linux kernel saw it (inotify).

Why the kernel: provenance records the files prepare's Python code opens (an audit hook) plus
the ones it notes itself (HDF5 opens from C). A test of that must observe opens by another
route, or it only checks the recorder against itself. inotify's IN_OPEN reports every open of
a file in a watched folder, from any process and any library, Python or C.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
from pathlib import Path

IN_OPEN = 0x00000020
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
_EVENT = struct.Struct("iIII")


def available() -> bool:
    return os.uname().sysname == "Linux" and ctypes.util.find_library("c") is not None


class OpenedFiles:
    """``with OpenedFiles([folder, ...]) as seen: ...`` then ``seen.files``: the resolved
    paths of the regular files opened below those folders (recursively) while inside."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = [Path(f).resolve() for f in folders]
        self.files: set[Path] = set()
        self._libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self._fd = -1
        self._dirs: dict[int, Path] = {}

    def __enter__(self) -> OpenedFiles:
        self._fd = self._libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        for top in self.folders:
            for folder in [top, *(p for p in top.rglob("*") if p.is_dir())]:
                wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), IN_OPEN)
                if wd < 0:
                    raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder} failed")
                self._dirs[wd] = folder
        return self

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & IN_OPEN and not mask & IN_ISDIR and name and wd in self._dirs:
                    self.files.add(self._dirs[wd] / os.fsdecode(name))

    def __exit__(self, *exc: object) -> None:
        self._drain()
        os.close(self._fd)
