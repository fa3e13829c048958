"""What ``bold5000-ae-prepare`` may write over: only a prepared file, never one of its inputs.

Why: ``overwrite=true`` replaces the output whole, so an output path that names a raw run, the
generator's ``ground_truth.json`` or any file under the source's folders would destroy an input
(and the next prepare would fail on it). Checked before any work, each refusal one line (exit 2):
- the output is one of the inputs the configuration names (``source.root``, ``events_root``,
  ``stimuli_root``, ``stim_list``, ``labels_table``, ``ground_truth``, the label files...), or,
  with ``overwrite=true``, lies inside one of the input folders;
- with ``overwrite=true``, an existing output is replaced only if it is an HDF5 file carrying
  this project's format attribute (``hdf5_format.FORMAT_NAME``), i.e. one prepare wrote.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py

from bold5000_ae.data.hdf5_format import FORMAT_NAME
from bold5000_ae.utils.errors import InputError


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, value) of every string below ``node``, except ``_target_`` class paths."""
    if isinstance(node, Mapping):
        for name, value in node.items():
            if name != "_target_":
                yield from _strings(value, f"{key}.{name}" if key else str(name))
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            yield from _strings(value, f"{key}[{i}]")
    elif isinstance(node, str) and node:
        yield key, node


def input_paths(config: Mapping[str, Any]) -> list[tuple[str, Path]]:
    """The existing files and folders a prepare configuration reads, with the key naming each:
    every path under ``source`` and ``labels``, and ``reference`` when it is a file. A list of
    roots (``source.root=a,b``) counts each."""
    found = []
    for section in ("source", "labels"):
        for key, value in _strings(config.get(section) or {}, section):
            for part in value.split(",") if key.endswith("root") else [value]:
                path = Path(part).expanduser()
                if path.exists():
                    found.append((key, path.resolve()))
    reference = config.get("reference")
    if isinstance(reference, str) and Path(reference).expanduser().is_file():
        found.append(("reference", Path(reference).expanduser().resolve()))
    return found


def check_not_an_input(output: str | Path, config: Mapping[str, Any], overwrite: bool) -> None:
    """Refuse an output that is one of the inputs, or (overwrite) inside an input folder."""
    target = Path(output).expanduser().absolute().resolve()
    inputs = input_paths(config)
    for key, path in inputs:
        if target == path:
            raise InputError(output, f"is one of prepare's inputs ({key}); choose another "
                                     "output")
    for key, path in inputs:
        if overwrite and path.is_dir() and path in target.parents:
            raise InputError(output, f"lies inside the input folder {path} ({key}); with "
                                     "overwrite=true prepare writes only outside its inputs")


def check_overwritable(output: str | Path) -> None:
    """An existing ``output`` may be replaced only if prepare wrote it (format attribute)."""
    output = Path(output)
    if not output.exists():
        return
    refuse = InputError(output, f"is not a file bold5000-ae-prepare wrote (no {FORMAT_NAME} "
                                "format attribute); refusing to overwrite it: move it away or "
                                "choose another output")
    if not output.is_file() or not h5py.is_hdf5(output):
        raise refuse
    try:
        with h5py.File(output, "r") as h5:
            ours = h5.attrs.get("format") == FORMAT_NAME
    except OSError:
        ours = False
    if not ours:
        raise refuse
