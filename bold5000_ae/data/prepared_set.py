"""One or several prepared HDF5 files seen as one table of samples (``data.path``: a path, a list
or a glob, e.g. one file per subject or session).

Why: a cross-subject study should not need every subject in one file from one serial prepare.
Rows are numbered across files in order (file 0's rows first). Every file must be on one grid
(same shape and affine), because the models see one voxel vector or one volume: subjects on
their own native grids are prepared with one ``reference`` (``sources/reference_grid.py``), and
files on different grids are refused in one line naming both files and both grids (for every
net: a voxel vector from another grid is other voxels). The served voxels are the intersection
of the files' masks (all of them when the masks agree, the common case). Image indices are
remapped to one table of image names, so image-disjoint splits and image tasks see one identity
per image across files. A (subject, session, run) may appear in one
file only: splits keep runs whole, and a run in two files would be two groups.

No h5py handle survives pickling (``__getstate__``): DataLoader workers open their own.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.data.validate import validate_prepared
from bold5000_ae.utils.errors import InputError


def resolve_paths(path: str | Path | Sequence[str | Path]) -> list[Path]:
    """A path, a glob pattern or a list of either → the files, in the given (glob: sorted) order."""
    items = [path] if isinstance(path, str | Path) else list(path)
    out: list[Path] = []
    for item in items:
        text = str(item)
        if any(c in text for c in "*?["):
            found = sorted(Path(p) for p in glob.glob(text))
            if not found:
                raise InputError(text, "no prepared file matches this pattern")
            out.extend(found)
        else:
            out.append(Path(text))
    if not out:
        raise InputError("data.path", "no prepared file given")
    if len(set(out)) != len(out):
        raise InputError("data.path", "a file is listed twice")
    return out


def grid_text(shape: Sequence[int], affine: np.ndarray, attrs: dict[str, Any]) -> str:
    """``(12, 14, 12) x 8 mm from (-48, -56, -48) mm, native`` (or ``reference <name>``)."""
    voxel = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
    size = (f"{voxel[0]:g}" if np.allclose(voxel, voxel[0])
            else "x".join(f"{v:g}" for v in voxel))
    origin = ", ".join(f"{v:g}" for v in np.round(np.asarray(affine)[:3, 3], 2))
    reference = attrs.get("reference")
    where = (f"reference {reference.get('name')}" if isinstance(reference, dict)
             else "roi columns" if attrs.get("grid_kind") == "roi_columns" else "native")
    return f"{tuple(int(n) for n in shape)} x {size} mm from ({origin}) mm, {where}"


def read_consecutive(bold: Any, local: np.ndarray, out: np.ndarray, at: np.ndarray,
                     columns: np.ndarray | None) -> None:
    """``out[at] = bold[local][:, columns]`` for sorted ``local`` rows, reading runs of
    consecutive rows with ``read_direct`` in the stored dtype (h5py's point-by-point fancy
    indexing was 30 times slower), straight into ``out`` when no column subset is needed."""
    if not len(local):
        return
    breaks = np.flatnonzero(np.diff(local) != 1) + 1
    for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(local)], strict=True):
        src = np.s_[local[a]:local[b - 1] + 1]
        if columns is None and out.dtype == bold.dtype and np.all(np.diff(at[a:b]) == 1):
            bold.read_direct(out, src, np.s_[at[a]:at[b - 1] + 1])
        else:
            block = bold[src]
            out[at[a:b]] = block if columns is None else block[:, columns]


class PreparedSet:
    """The files behind ``data.path``: samples, common mask, images and a row reader."""

    def __init__(self, path: str | Path | Sequence[str | Path]) -> None:
        self.paths = resolve_paths(path)
        tables, masks, offsets, self.file_attrs = [], [], [0], []
        affine, dtypes = None, []
        for i, p in enumerate(self.paths):
            with open_prepared(p) as h5:
                validate_prepared(h5, p)  # shapes, ranges, finite rows: one line
                mask, aff = h5["mask"][()], h5["affine"][()]
                attrs = read_attrs(h5)
                if masks and (mask.shape != masks[0].shape or not np.allclose(aff, affine)):
                    raise InputError(p, f"grid {grid_text(mask.shape, aff, attrs)} differs "
                                        f"from {self.paths[0]}'s grid "
                                        f"{grid_text(masks[0].shape, affine, self.file_attrs[0])}"
                                        "; the files of one dataset need one grid (one voxel "
                                        "vector, one volume for conv nets): prepare each with "
                                        "the same reference (reference=mni152 or "
                                        "reference=<NIfTI>)")
                affine = aff if affine is None else affine
                trials = read_trials(h5)
                file_names = [n.decode() if isinstance(n, bytes) else n
                              for n in h5["image_names"][()]]
                dtypes.append(h5["bold"].dtype)
                self.file_attrs.append(attrs)
            trials["file"] = i
            trials["local_row"] = np.arange(len(trials))
            tables.append((trials, file_names))
            masks.append(mask)
            offsets.append(offsets[-1] + len(trials))
        self.mask = np.logical_and.reduce(masks)
        if not self.mask.any():
            raise InputError(self.paths[-1], "the files' masks share no voxel")
        # columns of each file's rows that are in the common mask (None: all of them)
        self.columns = [None if m.sum() == self.mask.sum() else np.flatnonzero(self.mask[m])
                        for m in masks]
        self.affine, self.offsets = affine, np.asarray(offsets)
        self.dtype = np.result_type(*dtypes)
        self.image_names = list(dict.fromkeys(n for _, fn in tables for n in fn))
        index = {n: k for k, n in enumerate(self.image_names)}
        for trials, file_names in tables:
            remap = np.array([index[n] for n in file_names] + [-1], np.int64)  # -1 stays -1
            trials["image_index"] = remap[trials["image_index"].to_numpy()]
        self.trials = pd.concat([t for t, _ in tables], ignore_index=True)
        runs = self.trials.drop_duplicates(["subject", "session", "run", "file"])
        twice = runs.duplicated(["subject", "session", "run"])
        if twice.any():
            s, ses, r = runs.loc[twice, ["subject", "session", "run"]].iloc[0]
            raise InputError(self.paths[int(runs.loc[twice, "file"].iloc[0])],
                             f"subject {s} session {ses} run {r} is also in another file")
        self._handles: list[h5py.File | None] = [None] * len(self.paths)

    @property
    def attrs(self) -> dict[str, Any]:
        """The first file's attributes (a single file's, unchanged)."""
        return self.file_attrs[0]

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"] = [None] * len(self.paths)  # each worker opens its own
        return state

    @property
    def is_open(self) -> bool:
        return any(h is not None for h in self._handles)

    def close(self) -> None:
        for h in self._handles:
            if h is not None:
                h.close()
        self._handles = [None] * len(self.paths)

    def _bold(self, i: int) -> Any:
        if self._handles[i] is None:
            self._handles[i] = open_prepared(self.paths[i])
        return self._handles[i]["bold"]

    def read(self, rows: np.ndarray, dtype: Any = np.float32,
             out: np.ndarray | None = None) -> np.ndarray:
        """Rows (global numbers, any order) of the common voxels as ``dtype`` (or into ``out``).

        Reads in each file's stored dtype, then casts once with numpy (HDF5's float16
        conversion was 5 times slower than numpy's)."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        stored = np.empty((len(rows), self.n_voxels), self.dtype)
        files = np.searchsorted(self.offsets, sorted_rows, side="right") - 1
        for i in np.unique(files):
            sel = np.flatnonzero(files == i)
            read_consecutive(self._bold(int(i)), sorted_rows[sel] - self.offsets[i], stored,
                             sel, self.columns[i])
        in_order = np.array_equal(order, np.arange(len(rows)))
        if out is None and in_order and stored.dtype == dtype:
            return stored
        if out is None:
            out = np.empty(stored.shape, dtype)
        if in_order:
            out[...] = stored
        else:
            out[order] = stored
        return out

    def images(self) -> np.ndarray:
        """(M, H, W, 3) uint8 in the order of ``image_names`` (the files' tables merged)."""
        index = {n: k for k, n in enumerate(self.image_names)}
        merged: np.ndarray | None = None
        for path in self.paths:
            with open_prepared(path) as h5:
                images = h5["images"][()]
                names = [n.decode() if isinstance(n, bytes) else n for n in h5["image_names"][()]]
            if merged is None:
                merged = np.zeros((len(self.image_names), *images.shape[1:]), np.uint8)
            elif images.shape[1:] != merged.shape[1:]:
                raise InputError(path, f"images of size {images.shape[1:]}, another file has "
                                       f"{merged.shape[1:]}; prepare with one image_size")
            merged[[index[n] for n in names]] = images
        return merged
