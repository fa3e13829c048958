"""The one HDF5 layout every source is prepared into (documented in docs/data_format.md).

Why one module: writers and readers agree on names, dtypes and the version check in one place,
so nothing downstream re-reads raw files or guesses at a layout.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from bold5000_ae import __version__
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError

FORMAT_NAME = "bold5000_ae"
FORMAT_VERSION = 1
# Per-sample metadata columns, stored under /trials/<name>, one row per sample.
TRIAL_COLUMNS: dict[str, str] = {
    "image_index": "i4",  # row of /images (-1: no image)
    "label": "i1",  # 1 living, 0 non-living, -1 unknown
    "subject": "i2",
    "session": "i2",
    "run": "i2",
    "trial": "i2",  # 1-based trial number within the run
    "offset_s": "f4",  # volume time after onset; NaN for a mean over the window
    "repeat_index": "i2",  # 0 for the first presentation of an image, 1 for the next...
}
REQUIRED_DATASETS = ("bold", "mask", "affine", "images", "image_names", "image_present")


@dataclass
class PreparedData:
    """Everything one HDF5 file holds, in memory (used for writing and for small files)."""

    bold: np.ndarray  # (N, V) in-mask voxels
    mask: np.ndarray  # (X, Y, Z) bool
    affine: np.ndarray  # (4, 4)
    trials: pd.DataFrame  # TRIAL_COLUMNS, N rows
    images: np.ndarray  # (M, H, W, 3) uint8
    image_names: list[str]
    image_present: np.ndarray  # (M,) bool: False where the stimulus file was not found
    attrs: dict[str, Any] = field(default_factory=dict)


def _jsonable(value: Any) -> Any:
    """Attributes may hold Hydra configs, numpy values or paths: store them as plain JSON."""
    if type(value).__module__.startswith("omegaconf"):  # imported only then: readers and the
        from omegaconf import OmegaConf  # GPU benchmark run where OmegaConf is not installed

        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return str(value)


@contextmanager
def prepared_writer(path: str | Path, n_rows: int, n_voxels: int, bold_dtype: str = "float32",
                    extra_bytes: int = 0) -> Iterator[h5py.File]:
    """An open HDF5 file under a temporary name with ``/bold`` preallocated (``n_rows`` x
    ``n_voxels``, ``bold_dtype``); renamed to ``path`` only when the block exits cleanly.

    Why preallocated: the preparation driver streams one run at a time into it, so its memory is
    one run, never the whole dataset. The caller fills ``/bold`` and then calls
    ``write_metadata``; on an exception the temporary file is removed. ``extra_bytes``: what
    the metadata will add (the images above all), counted in the free-space check.
    """
    if n_rows < 1:
        raise InputError(path, "no samples to write (every sample dropped?)")
    size = n_rows * n_voxels * np.dtype(bold_dtype).itemsize + extra_bytes  # checked free
    with atomic_path(path, expected_bytes=size) as tmp, h5py.File(tmp, "w") as h5:
        # One sample per chunk, no compression: random access for training, nothing to inflate.
        h5.create_dataset("bold", shape=(n_rows, n_voxels), dtype=bold_dtype,
                          chunks=(1, n_voxels))
        yield h5


def write_metadata(h5: h5py.File, data: PreparedData) -> None:
    """Everything but ``/bold``: mask, affine, images, trials and attributes (``data.bold`` is
    only used for its shape, so a streaming writer may pass a placeholder of that shape)."""
    n, v = h5["bold"].shape
    if int(data.mask.sum()) != v:
        raise ValueError(f"bold has {v} voxels but the mask holds {int(data.mask.sum())}")
    if len(data.trials) != n:
        raise ValueError(f"bold has {n} rows but trials has {len(data.trials)}")
    h5.create_dataset("mask", data=data.mask.astype(bool))
    h5.create_dataset("affine", data=np.asarray(data.affine, dtype="f8"))
    h5.create_dataset("images", data=data.images.astype(np.uint8),
                      chunks=(1, *data.images.shape[1:]) if len(data.images) else None)
    h5.create_dataset("image_names", data=np.array(data.image_names, dtype=object),
                      dtype=h5py.string_dtype())
    h5.create_dataset("image_present", data=data.image_present.astype(bool))
    grp = h5.create_group("trials")
    for name, dtype in TRIAL_COLUMNS.items():
        grp.create_dataset(name, data=data.trials[name].to_numpy().astype(dtype))
    h5.attrs["format"] = FORMAT_NAME
    h5.attrs["format_version"] = FORMAT_VERSION
    h5.attrs["package_version"] = __version__
    for key, value in data.attrs.items():
        h5.attrs[key] = value if isinstance(value, str | int | float) else json.dumps(
            value, default=_jsonable)


def write_prepared(path: str | Path, data: PreparedData, *, bold_dtype: str = "float32") -> None:
    """Write ``data`` (all in memory) to ``path`` atomically (temporary name, flush, rename)."""
    n, v = data.bold.shape
    if int(data.mask.sum()) != v:
        raise ValueError(f"bold has {v} voxels but the mask holds {int(data.mask.sum())}")
    if len(data.trials) != n:
        raise ValueError(f"bold has {n} rows but trials has {len(data.trials)}")
    with prepared_writer(path, n, v, bold_dtype, extra_bytes=metadata_bytes(data)) as h5:
        h5["bold"][...] = data.bold.astype(bold_dtype, copy=False)
        write_metadata(h5, data)


def metadata_bytes(data: PreparedData) -> int:
    """About what everything but ``/bold`` takes on disk: the images, the per-sample tables and
    the mask (the margin of ``require_free_space`` covers names and attributes)."""
    per_row = sum(np.dtype(dtype).itemsize for dtype in TRIAL_COLUMNS.values())
    return int(data.images.nbytes + len(data.trials) * per_row + data.mask.size)


def check_format(h5: h5py.File, path: str | Path) -> None:
    """Refuse files of another format or version, or missing a dataset, in one line."""
    if h5.attrs.get("format") != FORMAT_NAME:
        raise InputError(path, f"not a {FORMAT_NAME} HDF5 file (attribute 'format' is "
                               f"{h5.attrs.get('format')!r})")
    version = int(h5.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        raise InputError(path, f"format version {version}, this package reads version "
                               f"{FORMAT_VERSION}; prepare the data again")
    missing = [k for k in REQUIRED_DATASETS if k not in h5]
    missing += [f"trials/{k}" for k in TRIAL_COLUMNS if f"trials/{k}" not in h5]
    if missing:
        raise InputError(path, f"missing dataset(s): {', '.join(missing)}")


def open_prepared(path: str | Path) -> h5py.File:
    """Open a prepared file read-only after checking its format."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (run bold5000-ae-prepare first)")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(path, f"not a readable HDF5 file ({exc})") from None
    try:
        check_format(h5, path)
    except InputError:
        h5.close()
        raise
    return h5


def read_trials(h5: h5py.File) -> pd.DataFrame:
    return pd.DataFrame({name: h5["trials"][name][()] for name in TRIAL_COLUMNS})


def read_attrs(h5: h5py.File) -> dict[str, Any]:
    """Attributes with JSON-encoded values decoded."""
    out: dict[str, Any] = {}
    for key, value in h5.attrs.items():
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a plain string that happens to start with a bracket stays a string
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def read_prepared(path: str | Path) -> PreparedData:
    """Load a whole prepared file into memory (tests, small datasets, evaluation)."""
    with open_prepared(path) as h5:
        return PreparedData(
            bold=h5["bold"][()], mask=h5["mask"][()], affine=h5["affine"][()],
            trials=read_trials(h5), images=h5["images"][()],
            image_names=[n.decode() if isinstance(n, bytes) else n for n in h5["image_names"][()]],
            image_present=h5["image_present"][()], attrs=read_attrs(h5))


def summarize(data: PreparedData, bold_shape: tuple[int, int] | None = None,
              bold_bytes: int | None = None) -> dict[str, Any]:
    """Counts a user wants to see after preparation. A streaming writer passes the written
    ``bold_shape`` and ``bold_bytes`` (stored dtype) instead of holding ``data.bold``."""
    trials = data.trials
    shape = bold_shape if bold_shape is not None else data.bold.shape
    nbytes = bold_bytes if bold_bytes is not None else data.bold.nbytes
    return {
        "samples": int(len(trials)),
        "voxels": int(shape[1]),
        "grid": list(data.mask.shape),
        "labels": {name: int((trials.label == value).sum())
                   for name, value in (("living", 1), ("non_living", 0), ("unknown", -1))},
        "subjects": sorted(int(s) for s in trials.subject.unique()),
        "sessions": int(trials.groupby(["subject", "session"]).ngroups),
        "runs": int(trials.groupby(["subject", "session", "run"]).ngroups),
        "images": len(data.image_names),
        "images_missing": int((~data.image_present).sum()),
        "bold_mib": round(nbytes / 2**20, 1),
    }
