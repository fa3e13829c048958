"""The preparation driver: source units → resumable parts → one HDF5 file, atomically.

Each unit (a run, a session) is saved to ``<output>.parts/`` as soon as it is done, so a crash
or Ctrl-C costs at most the unit in progress; a rerun with the same configuration skips finished
units. The parts are tied to a fingerprint of the configuration and discarded if it changed.
The output file appears only at the end, complete (written under a temporary name, renamed).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from bold5000_ae.data.assemble import attach_images_and_labels
from bold5000_ae.data.hdf5_format import PreparedData, summarize, write_prepared
from bold5000_ae.data.sources.base import SAMPLE_COLUMNS, Source, UnitSamples
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError


def _fingerprint(config: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _parts_dir(output: Path, fingerprint: str) -> Path:
    parts = output.with_name(output.name + ".parts")
    stamp = parts / "fingerprint.txt"
    if parts.exists() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        shutil.rmtree(parts)  # parts of another configuration: not ours to resume
    parts.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
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


def prepare_dataset(source: Source, output: str | Path, *, stimuli_root: str | Path | None,
                    image_size: int, labels: Mapping[str, Any], drop_unlabeled: bool = False,
                    bold_dtype: str = "float32", overwrite: bool = False,
                    extra_attrs: Mapping[str, Any] | None = None,
                    config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Prepare ``source`` into ``output`` and return the summary printed to the user."""
    output = Path(output)
    if output.exists() and not overwrite:
        raise InputError(output, "already exists; pass overwrite=true to replace it")
    fingerprint = _fingerprint({"source": source.describe(), "config": config or {}})
    parts = _parts_dir(output, fingerprint)
    mask, affine = source.mask_and_affine()
    units = source.units()
    if len(set(units)) != len(units):
        raise InputError(str(source.describe().get("root")), "two inputs map to one unit name")
    with Progress(transient=False) as progress:
        task = progress.add_task("preparing", total=len(units))
        for unit in units:
            part = parts / f"{unit}.npz"
            if not part.is_file():
                loaded = source.load(unit)
                check_unit(unit, loaded, int(mask.sum()))
                with atomic_path(part) as tmp:
                    with open(tmp, "wb") as handle:
                        table = json.dumps(loaded.samples.to_dict(orient="list"), default=str)
                        np.savez(handle, bold=loaded.bold, samples=table)
            progress.update(task, advance=1, description=f"prepared {unit}")
    bolds, tables = [], []
    for unit in units:
        with np.load(parts / f"{unit}.npz") as stored:
            bolds.append(stored["bold"])
            tables.append(pd.DataFrame(json.loads(stored["samples"].item())))
    bold = np.concatenate(bolds)
    samples = pd.concat(tables, ignore_index=True)
    trials, images, names, present, rule = attach_images_and_labels(
        samples, stimuli_root=stimuli_root, image_size=image_size, labels=labels)
    if drop_unlabeled:
        keep = trials.label.to_numpy() >= 0
        bold, trials = bold[keep], trials[keep].reset_index(drop=True)
    data = PreparedData(bold=bold, mask=mask, affine=affine, trials=trials, images=images,
                        image_names=names, image_present=present,
                        attrs={"source": source.describe(), "label_rule": rule,
                               "grid_kind": source.describe().get("grid_kind", "volume"),
                               "prepare_config": config or {}, **(extra_attrs or {})})
    write_prepared(output, data, bold_dtype=bold_dtype)
    shutil.rmtree(parts)
    return summarize(data)
