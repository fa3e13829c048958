"""How a prepared file was made: every input file by content, the libraries, config and command.

Why an audit hook: the sources read through many libraries (nibabel, nilearn, pandas, scipy,
numpy, PIL, pickle), and a list of files kept by hand would miss the next reader someone adds.
Python raises the ``open`` audit event for every file any Python code opens, so a recorder that
listens to it sees every input whatever library reads it. Files opened from C without Python
(HDF5 through h5py) do not raise it; those few call sites ``note_input(path)`` themselves.
Recording is cheap (a set of paths); each file is hashed once (SHA-256), when the recorder is
asked for its inputs, and the hash is cached per (path, size, mtime) within the process.

What is not an input: Python code and compiled modules, the interpreter's and site-packages'
files (their versions are recorded instead), /proc, /sys, /dev, files opened for writing, and
the paths a recorder is told to exclude (the output and its parts).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

GROUP = "provenance"
PROVENANCE_VERSION = 1
# the libraries that read and clean the inputs (torch plays no part in preparation)
LIBRARIES = ("bold5000_ae", "numpy", "scipy", "nibabel", "nilearn", "h5py", "pandas",
             "scikit-learn", "pillow", "joblib")
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".so", ".pyd", ".pth", ".pyi")
SYSTEM_PREFIXES = ("/proc/", "/sys/", "/dev/")
CHUNK = 1 << 20

_ACTIVE: list[InputRecorder] = []
_HOOKED = False
_HASHES: dict[tuple[str, int, int], str] = {}


def _audit(event: str, args: tuple) -> None:
    """The process-wide audit hook: cheap, and silent while no recorder listens."""
    if event != "open" or not _ACTIVE:
        return
    path, _mode, flags = args
    if path is None or isinstance(path, int):
        return
    if flags is not None and (flags & os.O_ACCMODE) != os.O_RDONLY:
        return
    for recorder in _ACTIVE:
        recorder.seen.add(path)


def _install_hook() -> None:
    global _HOOKED
    if not _HOOKED:  # an audit hook cannot be removed: one per process, dispatching
        sys.addaudithook(_audit)
        _HOOKED = True


def note_input(path: str | os.PathLike[str]) -> None:
    """Record ``path`` as read by every active recorder: for readers that open files outside
    Python (h5py), which the audit hook cannot see."""
    for recorder in _ACTIVE:
        recorder.seen.add(path)


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes, cached per (path, size, mtime) in this process."""
    stat = os.stat(path)
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


@functools.cache
def _library_prefixes() -> tuple[str, ...]:
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return tuple(str(Path(p).resolve()) + os.sep for p in prefixes if p)


class InputRecorder:
    """Collects the files read while it is active (``with InputRecorder() as rec:``).

    ``exclude``: files or folders that are not inputs (the output, its parts folder).
    Recorders nest: every active one sees every file.
    """

    def __init__(self, exclude: Iterable[str | Path] = ()) -> None:
        self.seen: set[Any] = set()
        self.exclude = [Path(p).absolute() for p in exclude]

    def __enter__(self) -> InputRecorder:
        _install_hook()
        _ACTIVE.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.remove(self)

    def exclude_path(self, path: str | Path) -> None:
        self.exclude.append(Path(path).absolute())

    def _is_input(self, path: Path) -> bool:
        text = str(path)
        if text.endswith(CODE_SUFFIXES) or text.startswith(SYSTEM_PREFIXES):
            return False
        if text.startswith(_library_prefixes()):
            return False
        if any(path == e or e in path.parents for e in self.exclude):
            return False
        return path.is_file()

    def paths(self) -> list[Path]:
        """The input files seen so far, absolute and resolved, sorted."""
        found = set()
        for raw in list(self.seen):
            try:
                path = Path(os.fsdecode(raw)).absolute()
            except (TypeError, ValueError):
                continue
            # the excluded paths are compared before and after resolving links
            if not self._is_input(path):
                continue
            resolved = path.resolve()
            if self._is_input(resolved):
                found.add(resolved)
        return sorted(found)

    def inputs(self) -> list[dict[str, Any]]:
        """``[{path, sha256, bytes}]`` of the files seen so far (hashed now, once each)."""
        out = []
        for path in self.paths():
            if path.is_file():
                out.append({"path": str(path), "sha256": sha256_file(path),
                            "bytes": path.stat().st_size})
        return out


@contextmanager
def recording(recorder: InputRecorder | None = None,
              exclude: Iterable[str | Path] = ()) -> Iterator[InputRecorder]:
    """``recorder`` if one is given (already active or not), else a new one, active inside."""
    if recorder is not None:
        for path in exclude:
            recorder.exclude_path(path)
        if recorder in _ACTIVE:
            yield recorder
            return
    recorder = recorder or InputRecorder(exclude)
    with recorder:
        yield recorder


def merge_inputs(*lists: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per path (the first seen wins), sorted by path."""
    merged: dict[str, dict[str, Any]] = {}
    for entries in lists:
        for entry in entries:
            merged.setdefault(entry["path"], dict(entry))
    return [merged[p] for p in sorted(merged)]


def library_versions() -> dict[str, str]:
    """Python, HDF5 and each library of ``LIBRARIES`` (``not installed`` where absent)."""
    versions = {"python": sys.version.split()[0], "hdf5": h5py.version.hdf5_version}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe_run(config: Mapping[str, Any] | None, inputs: list[dict[str, Any]],
                 argv: list[str] | None = None) -> dict[str, Any]:
    """Everything the provenance group holds, in memory."""
    argv = list(sys.argv if argv is None else argv)
    return {"provenance_version": PROVENANCE_VERSION, "versions": library_versions(),
            "config": dict(config or {}), "argv": argv,
            "command_line": shlex.join([Path(argv[0]).name, *argv[1:]]) if argv else "",
            "cwd": os.getcwd(), "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": inputs}


def write_provenance(h5: h5py.File, provenance: Mapping[str, Any]) -> None:
    """``/provenance``: attributes for the small parts, datasets for the input list (which
    grows with the data: one row per run, image, table; attributes are capped at 64 KiB)."""
    group = h5.create_group(GROUP)
    for key in ("versions", "config", "argv"):
        group.attrs[key] = json.dumps(provenance[key], default=str, sort_keys=key != "argv")
    for key in ("provenance_version", "command_line", "cwd", "created_utc"):
        group.attrs[key] = provenance[key]
    inputs = group.create_group("inputs")
    entries = provenance["inputs"]
    text = h5py.string_dtype()
    inputs.create_dataset("path", data=np.array([e["path"] for e in entries], dtype=object),
                          dtype=text)
    inputs.create_dataset("sha256", data=np.array([e["sha256"] for e in entries],
                                                  dtype=object), dtype=text)
    inputs.create_dataset("bytes", data=np.array([e["bytes"] for e in entries], dtype="i8"))


def _text(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_provenance(h5: h5py.File) -> dict[str, Any] | None:
    """The ``/provenance`` group as written, or None for a file prepared without it."""
    if GROUP not in h5:
        return None
    group = h5[GROUP]
    out: dict[str, Any] = {}
    for key, value in group.attrs.items():
        value = value.item() if isinstance(value, np.generic) else value
        out[key] = json.loads(value) if key in ("versions", "config", "argv") else value
    inputs = group["inputs"]
    out["inputs"] = [{"path": p, "sha256": s, "bytes": int(b)} for p, s, b in zip(
        _text(inputs["path"][()]), _text(inputs["sha256"][()]), inputs["bytes"][()],
        strict=True)]
    return out
