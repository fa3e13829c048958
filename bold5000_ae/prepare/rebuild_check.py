"""Does a prepared file still follow from its inputs? The comparisons behind ``verify=FILE``.

Two questions, answered separately so a difference is named, not just detected:
- the inputs: is every file the provenance names still there with the same SHA-256, and did
  the rebuild read the same set of files?
- the result: does every dataset and attribute of the rebuilt file equal the original's? Bit
  for bit when the library versions match (the same code on the same bytes must give the same
  bytes); within a float tolerance, and said so, when they differ.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from bold5000_ae.data.hdf5_format import read_attrs
from bold5000_ae.prepare.part_store import VOLATILE_KEYS
from bold5000_ae.prepare.provenance import GROUP, sha256_file

# attributes of the root that name where and when, not what: never compared
RTOL, ATOL = 1e-5, 1e-6


def _short(digest: str) -> str:
    return digest[:12]


def check_recorded_inputs(inputs: list[Mapping[str, Any]]) -> list[str]:
    """One line per recorded input that is gone or whose content changed."""
    lines = []
    for entry in inputs:
        path = Path(entry["path"])
        if not path.is_file():
            lines.append(f"input missing: {path}")
            continue
        digest = sha256_file(path)
        if digest != entry["sha256"]:
            lines.append(f"input changed: {path} (sha256 {_short(entry['sha256'])}... when "
                         f"prepared, {_short(digest)}... now)")
    return lines


def compare_input_sets(recorded: list[Mapping[str, Any]],
                       rebuilt: list[Mapping[str, Any]]) -> list[str]:
    """Files the rebuild read that the original did not, and the reverse."""
    before = {e["path"] for e in recorded}
    after = {e["path"] for e in rebuilt}
    return ([f"input read now, not when prepared: {p}" for p in sorted(after - before)]
            + [f"input read when prepared, not now: {p}" for p in sorted(before - after)])


def compare_versions(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    return [f"{name} {recorded.get(name)} when prepared, {current.get(name)} now"
            for name in sorted(set(recorded) | set(current))
            if recorded.get(name) != current.get(name)]


def _datasets(h5: h5py.File) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py.Dataset) and not name.startswith(GROUP + "/"):
            found[name] = node

    h5.visititems(visit)
    return found


def _compare_arrays(name: str, a: np.ndarray, b: np.ndarray, exact: bool) -> str | None:
    if a.shape != b.shape:
        return f"dataset /{name} differs: shape {a.shape} against {b.shape}"
    if a.dtype != b.dtype:
        return f"dataset /{name} differs: dtype {a.dtype} against {b.dtype}"
    if a.dtype.kind in "fc":
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not exact:
            same |= np.isclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)
    else:
        same = a == b
    same = np.asarray(same)
    if same.all():
        return None
    count = int((~same).sum())
    line = f"dataset /{name} differs: {count:,} of {a.size:,} values"
    if a.dtype.kind in "fiu":
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        line += f" (largest difference {float(np.nanmax(diff[~same])):.3g})"
    if name == "bold" or name.startswith("trials/"):
        rows = np.flatnonzero(~same.reshape(len(same), -1).all(axis=1)) if same.ndim else []
        if len(rows):
            line += f", first in row {int(rows[0])}"
    return line


def _stable_attrs(h5: h5py.File) -> dict[str, Any]:
    out = read_attrs(h5)
    if isinstance(out.get("prepare_config"), dict):
        out["prepare_config"] = {k: v for k, v in out["prepare_config"].items()
                                 if k not in VOLATILE_KEYS}
    return out


def compare_prepared(original: str | Path, rebuilt: str | Path, exact: bool) -> list[str]:
    """One line per dataset or root attribute that differs (the provenance group aside: it
    names when and how, and its inputs are compared by ``compare_input_sets``)."""
    lines = []
    with h5py.File(original, "r") as a, h5py.File(rebuilt, "r") as b:
        da, db = _datasets(a), _datasets(b)
        for name in sorted(set(da) | set(db)):
            if name not in db:
                lines.append(f"dataset /{name} is in the file, not in the rebuild")
            elif name not in da:
                lines.append(f"dataset /{name} is in the rebuild, not in the file")
            else:
                line = _compare_arrays(name, da[name][()], db[name][()], exact)
                if line:
                    lines.append(line)
        aa, ab = _stable_attrs(a), _stable_attrs(b)
        for key in sorted(set(aa) | set(ab)):
            if json.dumps(aa.get(key), sort_keys=True, default=str) != json.dumps(
                    ab.get(key), sort_keys=True, default=str):
                lines.append(f"attribute {key} differs")
    return lines
