"""The preparation driver: source units → resumable parts → one HDF5 file, atomically.

Units (runs, sessions) become parts first (``part_store.py``: resumable, parallel through joblib,
or sharded across cluster jobs). Assembly then streams: the sample tables (small) are read
together to attach images and labels, and each unit's rows go straight into a preallocated
``/bold`` of the final file, so peak memory is one unit plus a constant, whatever the number of
runs. The output appears only at the end, complete (written under a temporary name, renamed).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import Progress

from bold5000_ae.data.hdf5_format import (
    PreparedData,
    metadata_bytes,
    prepared_writer,
    summarize,
    write_metadata,
)
from bold5000_ae.prepare.assemble import attach_images_and_labels
from bold5000_ae.prepare.part_store import (
    check_unit,
    fingerprint,
    part_path,
    parts_dir,
    parts_path,
    prepare_parts,
    read_bold,
    read_inputs,
    read_notes,
    read_table,
)
from bold5000_ae.prepare.provenance import (
    InputRecorder,
    describe_run,
    merge_inputs,
    recording,
    write_provenance,
)
from bold5000_ae.prepare.sources.base import Source
from bold5000_ae.utils.errors import InputError

__all__ = ["check_unit", "prepare_dataset"]


def _shard_units(units: list[str], shard: int | None, num_shards: int) -> list[str]:
    if shard is None:
        return units
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise InputError("shard", f"shard {shard} is outside 0..{num_shards - 1} "
                                  f"(num_shards={num_shards})")
    return units[shard::num_shards]


def check_n_jobs(n_jobs: object) -> None:
    """``n_jobs`` is a whole number ≥ 1, or -1 for every core (joblib's other negatives count
    back from the core count and fail on small machines): one line before any work."""
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or not (n_jobs >= 1 or
                                                                        n_jobs == -1):
        raise InputError("n_jobs", f"must be a whole number ≥ 1, or -1 for every core; got "
                                   f"{n_jobs!r}")


def _check_reference_reached(description: Mapping[str, Any],
                             config: Mapping[str, Any]) -> None:
    """A ``reference`` asked for must be the one the source resamples onto: a ROI source (or a
    source config without the key) would otherwise prepare its own grid without a word."""
    wanted = config.get("reference")
    if wanted is None:
        return
    got = description.get("reference")
    if not got:
        kind = description.get("source", "this source")
        why = ("has no voxel grid to resample" if description.get("grid_kind") == "roi_columns"
               else "was not given it; set source.reader.reference")
        raise InputError("reference", f"{wanted!r} asked for, but source {kind} {why}")


def _assemble(source: Source, units: list[str], parts: Path, output: Path, *,
              mask: np.ndarray, affine: np.ndarray, stimuli_root: str | Path | None,
              image_size: int, labels: Mapping[str, Any], drop_unlabeled: bool,
              bold_dtype: str, attrs: dict[str, Any],
              provenance: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Stream the parts into ``output``; returns the summary. ``provenance()`` is asked once
    every input (images and label tables included) has been read."""
    tables = [read_table(parts, unit) for unit in units]
    bounds = np.cumsum([0, *(len(t) for t in tables)])
    samples = pd.concat(tables, ignore_index=True)
    trials, images, names, present, rule = attach_images_and_labels(
        samples, stimuli_root=stimuli_root, image_size=image_size, labels=labels)
    keep = trials.label.to_numpy() >= 0 if drop_unlabeled else np.ones(len(trials), bool)
    trials = trials[keep].reset_index(drop=True)
    n_voxels = int(mask.sum())
    made = provenance()
    data = PreparedData(bold=np.empty((len(trials), 0), bold_dtype), mask=mask, affine=affine,
                        trials=trials, images=images, image_names=names, image_present=present,
                        attrs={**attrs, "label_rule": rule})
    with prepared_writer(output, len(trials), n_voxels, bold_dtype,
                         extra_bytes=metadata_bytes(data)) as h5:
        row = 0
        for unit, start, stop in zip(units, bounds[:-1], bounds[1:], strict=True):
            bold = read_bold(parts, unit)[keep[start:stop]].astype(bold_dtype, copy=False)
            h5["bold"][row:row + len(bold)] = bold
            row += len(bold)
        write_metadata(h5, data)
        write_provenance(h5, made)
    itemsize = np.dtype(bold_dtype).itemsize
    return summarize(data, bold_shape=(len(trials), n_voxels),
                     bold_bytes=len(trials) * n_voxels * itemsize)


def prepare_dataset(source: Source, output: str | Path, *, stimuli_root: str | Path | None,
                    image_size: int, labels: Mapping[str, Any], drop_unlabeled: bool = False,
                    bold_dtype: str = "float32", overwrite: bool = False,
                    extra_attrs: Mapping[str, Any] | None = None,
                    config: Mapping[str, Any] | None = None, n_jobs: int = 1,
                    shard: int | None = None, num_shards: int = 1,
                    recorder: InputRecorder | None = None,
                    argv: list[str] | None = None) -> dict[str, Any]:
    """Prepare ``source`` into ``output`` and return the summary printed to the user.

    Every file read on the way is recorded with its SHA-256 in the file's ``/provenance``
    (``provenance.py``), with the library versions, ``config`` and the command line (``argv``,
    default ``sys.argv``). ``recorder``: one already listening (the caller read inputs before,
    e.g. while building the source), else a new one.

    ``n_jobs``: units prepared in parallel (joblib; -1 all cores). ``shard``/``num_shards``:
    prepare only units ``shard::num_shards`` into the parts folder and stop (one cluster job
    each); a last call without ``shard`` finds every part done and only assembles.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise InputError(output, "already exists; pass overwrite=true to replace it")
    with recording(recorder, exclude=[output, parts_path(output)]) as recorder:
        return _prepare(source, output, stimuli_root=stimuli_root, image_size=image_size,
                        labels=labels, drop_unlabeled=drop_unlabeled, bold_dtype=bold_dtype,
                        extra_attrs=extra_attrs, config=config, n_jobs=n_jobs, shard=shard,
                        num_shards=num_shards, recorder=recorder, argv=argv)


def _prepare(source: Source, output: Path, *, stimuli_root: str | Path | None, image_size: int,
             labels: Mapping[str, Any], drop_unlabeled: bool, bold_dtype: str,
             extra_attrs: Mapping[str, Any] | None, config: Mapping[str, Any] | None,
             n_jobs: int, shard: int | None, num_shards: int, recorder: InputRecorder,
             argv: list[str] | None) -> dict[str, Any]:
    description = source.describe()
    _check_reference_reached(description, config or {})
    parts = parts_dir(output, fingerprint(description, config or {}))
    mask, affine = source.mask_and_affine()
    units = source.units()
    if len(set(units)) != len(units):
        raise InputError(str(description.get("root")), "two inputs map to one unit name")
    mine = _shard_units(units, shard, num_shards)
    resumed = sum(part_path(parts, u).is_file() for u in mine)
    with Progress(transient=False) as progress:
        task = progress.add_task("preparing", total=len(mine))
        prepare_parts(source, mine, parts, int(mask.sum()), n_jobs=n_jobs,
                      done=lambda u: progress.update(task, advance=1,
                                                     description=f"prepared {u}"))
    if shard is not None:
        done = sum(part_path(parts, u).is_file() for u in units)
        return {"shard": f"{shard} of {num_shards}", "units_in_shard": len(mine),
                "units_resumed": resumed, "parts_done": f"{done} of {len(units)}",
                "parts": str(parts)}
    # described again after reading (e.g. ROI widths), plus what each unit's reading learnt
    # (e.g. layout_from), kept in its part: the unit may have been read in a joblib worker,
    # another job or an earlier, resumed prepare, whose source objects are gone
    description = {**description, **source.describe(), **read_notes(parts, units)}
    attrs = {"source": description, "grid_kind": description.get("grid_kind", "volume"),
             "prepare_config": config or {}, **(extra_attrs or {})}
    if description.get("reference"):
        attrs["reference"] = description["reference"]
    if "high_pass_filter" in description:
        attrs["high_pass_filter"] = description["high_pass_filter"]
    if description.get("mode"):  # what a row is: a volume (each), a window mean, an LSS beta
        attrs["sample_mode"] = description["mode"]
    summary = _assemble(source, units, parts, output, mask=mask, affine=affine,
                        stimuli_root=stimuli_root, image_size=image_size, labels=labels,
                        drop_unlabeled=drop_unlabeled, bold_dtype=bold_dtype, attrs=attrs,
                        provenance=lambda: describe_run(config, merge_inputs(
                            recorder.inputs(), read_inputs(parts, units)), argv))
    shutil.rmtree(parts)
    return {**summary, "units_resumed": resumed}
