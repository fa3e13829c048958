"""The resumable half of preparation: each source unit (a run, a session) → one part file.

Why parts: a crash or Ctrl-C costs at most the units in progress, and a rerun with the same
configuration skips finished units. Parts are tied to a fingerprint of the configuration and
discarded if it changed. Units are independent, so they run through joblib (``n_jobs``) on one
machine, or as shards (``shard`` of ``num_shards``) in separate jobs that share the parts folder
(a cluster array; a last run without ``shard`` merges them). Each worker holds one unit at a time.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from bold5000_ae.prepare.provenance import InputRecorder
from bold5000_ae.prepare.sources.base import SAMPLE_COLUMNS, Source, UnitSamples
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError

# Config keys that never change a part's content: leaving them out of the fingerprint lets a
# rerun with another n_jobs, shard or Hydra output folder (timestamped) resume the parts.
VOLATILE_KEYS = ("paths", "output", "overwrite", "n_jobs", "shard", "num_shards", "task_name",
                 "verify", "hydra")
# What a part holds; in the fingerprint, so parts of another layout are never resumed.
PART_MEMBERS = ("bold", "samples", "notes", "inputs")


def fingerprint(source_description: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    stable = {k: v for k, v in config.items() if k not in VOLATILE_KEYS}
    blob = json.dumps({"source": source_description, "config": stable,
                       "part_members": PART_MEMBERS}, sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def parts_path(output: str | Path) -> Path:
    """Where the parts of ``output`` are kept: ``<output>.parts/``."""
    output = Path(output)
    return output.with_name(output.name + ".parts")


def parts_dir(output: Path, stamp_value: str) -> Path:
    """``<output>.parts/``, emptied first if it holds the parts of another configuration; a
    non-empty folder of that name without a fingerprint was not made by prepare: refused."""
    parts = parts_path(output)
    stamp = parts / "fingerprint.txt"
    if parts.is_dir() and not stamp.is_file() and any(parts.iterdir()):
        raise InputError(parts, "exists and holds no fingerprint.txt (not prepare's parts); "
                                "refusing to delete it: move it away or choose another output")
    if parts.exists() and (not stamp.is_file() or stamp.read_text() != stamp_value):
        shutil.rmtree(parts)  # parts of another configuration: not ours to resume
    parts.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():
        with atomic_path(stamp) as tmp:  # concurrent shards may write it at once
            tmp.write_text(stamp_value)
    return parts


def check_unit(unit: str, loaded: UnitSamples, n_voxels: int) -> None:
    """Backstop for every source: rows, columns, voxel count and finite values agree, so a
    reader's slip fails here, naming the unit, and never reaches the HDF5 file."""
    bold, samples = loaded.bold, loaded.samples
    missing = [c for c in SAMPLE_COLUMNS if c not in samples]
    if missing:
        raise InputError(unit, f"source gave no column(s) {', '.join(missing)}")
    if bold.ndim != 2 or bold.shape[1] != n_voxels:
        raise InputError(unit, f"BOLD rows have shape {bold.shape[1:]}, the mask holds "
                               f"{n_voxels} voxels")
    if len(bold) != len(samples) or not len(bold):
        raise InputError(unit, f"{len(bold)} BOLD rows for {len(samples)} samples")
    bad = int((~np.isfinite(bold)).sum())
    if bad:
        raise InputError(unit, f"{bad} NaN or Inf values after cleaning (constant voxels in "
                               "the mask?)")


def part_path(parts: Path, unit: str) -> Path:
    return parts / f"{unit}.npz"


def prepare_unit(source: Source, unit: str, part: Path, n_voxels: int) -> None:
    """Load, check and store one unit (atomically: a killed worker leaves no part), with the
    files its reading opened (SHA-256 each: the unit may be read in a joblib worker or by an
    earlier, resumed prepare, so they travel with its part)."""
    with InputRecorder(exclude=[part.parent]) as recorder:
        loaded = source.load(unit)
    check_unit(unit, loaded, n_voxels)
    inputs = recorder.inputs()
    with atomic_path(part) as tmp:
        with open(tmp, "wb") as handle:
            table = json.dumps(loaded.samples.to_dict(orient="list"), default=str)
            np.savez(handle, bold=loaded.bold, samples=table,
                     notes=json.dumps(loaded.notes, default=str), inputs=json.dumps(inputs))


def _in_worker(source: Source, unit: str, part: Path,
               n_voxels: int) -> tuple[str, tuple[str, str] | None]:
    """``prepare_unit`` in a joblib worker → (unit, error). An InputError comes back as
    (source, problem), because its two-argument constructor does not survive pickling."""
    try:
        prepare_unit(source, unit, part, n_voxels)
    except InputError as exc:
        return unit, (exc.source, exc.problem)
    return unit, None


def prepare_parts(source: Source, units: Sequence[str], parts: Path, n_voxels: int,
                  n_jobs: int = 1, done: Callable[[str], None] | None = None) -> None:
    """Prepare every unit of ``units`` without a part yet; ``done(unit)`` after each one.

    ``n_jobs == 1`` runs in this process (no pickling); otherwise joblib's loky processes,
    which cap each worker's BLAS threads so ``n_jobs`` workers share the cores.
    """
    todo = [u for u in units if not part_path(parts, u).is_file()]
    for unit in units:
        if unit not in todo and done:
            done(unit)
    if n_jobs == 1 or len(todo) <= 1:
        for unit in todo:
            prepare_unit(source, unit, part_path(parts, unit), n_voxels)
            if done:
                done(unit)
        return
    jobs = (delayed(_in_worker)(source, u, part_path(parts, u), n_voxels) for u in todo)
    for unit, error in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs):
        if error is not None:
            raise InputError(*error)
        if done:
            done(unit)


def read_table(parts: Path, unit: str) -> pd.DataFrame:
    """A part's sample table alone: an ``.npz`` member is read only when asked for."""
    with np.load(part_path(parts, unit)) as stored:
        return pd.DataFrame(json.loads(stored["samples"].item()))


def read_notes(parts: Path, units: Sequence[str]) -> dict[str, dict[str, Any]]:
    """What the source learnt per unit, as ``{key: {unit: value}}`` (parts written before
    notes existed have none)."""
    learnt: dict[str, dict[str, Any]] = {}
    for unit in units:
        with np.load(part_path(parts, unit)) as stored:
            notes = json.loads(stored["notes"].item()) if "notes" in stored.files else {}
        for key, value in notes.items():
            learnt.setdefault(key, {})[unit] = value
    return learnt


def read_inputs(parts: Path, units: Sequence[str]) -> list[dict[str, Any]]:
    """The input files every unit's reading opened (``[{path, sha256, bytes}]`` per file)."""
    found: list[dict[str, Any]] = []
    for unit in units:
        with np.load(part_path(parts, unit)) as stored:
            found.extend(json.loads(stored["inputs"].item()))
    return found


def read_bold(parts: Path, unit: str) -> np.ndarray:
    with np.load(part_path(parts, unit)) as stored:
        return stored["bold"]
