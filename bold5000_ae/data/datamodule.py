"""The LightningDataModule over one or several prepared HDF5 files (``path``: a file, a list or
a glob; ``prepared_set.py``).

It splits by whole groups (see ``splits.py``), fits normalisation on the training split only,
and serves batches as dicts. No h5py handle is ever pickled: each worker opens its own file on
first use, or the data is loaded into RAM and the file closed.

Cache modes (``cache``), all serving the same normalised float32 batches:
``none`` reads the HDF5 file per batch; ``ram`` holds each split in its stored dtype
(``samples.py``); ``gpu`` holds each split on the trainer's device in its storage dtype and
slices and normalises batches there (``gpu_cache.py``; no workers, no host copies). ``none`` and
``ram`` fetch a whole batch per call (one gather, no per-item collation) and pin host memory when
training on CUDA (``pin_memory: auto``); Lightning then copies batches with ``non_blocking=True``.

Memory: ``setup()`` reads metadata and computes the statistics in chunks; split data is
loaded on first use, after ``setup()`` has compared the need with the available memory (and the
cgroup limit) and refused in one line if it does not fit. Under DDP each rank serves (and loads)
only its shard of every split: rows ``rank::world_size``, wrapped to equal lengths as Lightning's
DistributedSampler does, so host memory per node does not multiply by the number of ranks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from bold5000_ae.data.gpu_cache import DeviceBatches, DeviceSplit
from bold5000_ae.data.memory import check_fits
from bold5000_ae.data.prepared_set import PreparedSet
from bold5000_ae.data.samples import Batched, BoldSamples, CacheMode, batch_is_ready
from bold5000_ae.data.splits import GroupHoldoutSplit, Split, check_split_keeps_groups
from bold5000_ae.utils.errors import InputError

__all__ = ["CACHE_MODES", "BoldDataModule", "BoldSamples", "shard_rows"]
CACHE_MODES = ("none", "ram", "gpu")
SPLITS = ("train", "val", "test")  # the names splits.SPLIT_NAMES assigns
STATS_ROWS = 32


def shard_rows(rows: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s rows: every ``world_size``-th, the list wrapped around to a multiple of
    ``world_size`` first (as DistributedSampler pads), so every rank has the same number of
    rows and batches (DDP would hang on unequal counts)."""
    if world_size <= 1 or not len(rows):
        return rows
    total = -(-len(rows) // world_size) * world_size
    padded = np.resize(rows, total)  # repeats the first rows at the end
    return padded[rank::world_size]


class BoldDataModule(LightningDataModule):
    """Batches from prepared HDF5 file(s), split by groups, normalised with training statistics.

    ``path``: one file, a list of files or a glob (one per subject or session, on one grid).
    ``normalize``: ``voxel`` (per-voxel mean and std of the training split), ``mean`` (subtract
    the training mean only) or ``none``. After ``voxel`` or ``mean`` the training-mean volume is
    zero, which is the reference R² is computed against.
    ``labeled_only``: keep only samples with a living/non-living label (classification tasks).
    ``cache``: ``none``, ``ram`` or ``gpu`` (see the module docstring); ``gpu`` ignores
    ``num_workers`` and ``pin_memory``. ``pin_memory``: ``auto`` pins when training on CUDA.
    """

    def __init__(self, path: str | Path | Sequence[str | Path], split: Split | None = None,
                 batch_size: int = 32, num_workers: int = 0, cache: CacheMode = "ram",
                 normalize: Literal["voxel", "mean", "none"] = "voxel",
                 include_images: bool = False, labeled_only: bool = False,
                 pin_memory: bool | Literal["auto"] = "auto",
                 persistent_workers: bool = False) -> None:
        super().__init__()
        if cache not in CACHE_MODES:
            raise InputError("data.cache", f"unknown cache mode {cache!r}; valid: "
                                           f"{', '.join(CACHE_MODES)}")
        if normalize not in ("voxel", "mean", "none"):
            raise InputError("data.normalize", f"unknown {normalize!r}; valid: voxel, mean, none")
        if pin_memory not in (True, False, "auto"):
            raise InputError("data.pin_memory", f"{pin_memory!r}; valid: true, false, auto")
        if split is None:
            split = GroupHoldoutSplit()
        if not isinstance(path, str | Path):  # a ListConfig from Hydra: plain strings
            path = [str(p) for p in path]
        self.path = Path(path) if isinstance(path, str | Path) else path
        self.split = split
        self.batch_size, self.num_workers, self.cache = batch_size, num_workers, cache
        self.normalize, self.include_images = normalize, include_images
        self.labeled_only, self.pin_memory = labeled_only, pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.datasets: dict[str, BoldSamples] = {}
        self.assignment: np.ndarray | None = None
        self.files: PreparedSet | None = None
        self.shard: tuple[int, int] = (0, 1)  # (rank, world size) the datasets were built for
        self._device_splits: dict[str, DeviceSplit] = {}
        self._images: np.ndarray | None = None

    def _rank_world(self) -> tuple[int, int, int]:
        """(rank, world size, ranks on this node) of the attached trainer, else (0, 1, 1)."""
        trainer = self.trainer
        if trainer is None:
            return 0, 1, 1
        world = int(trainer.world_size)
        return int(trainer.global_rank), world, max(world // max(int(trainer.num_nodes), 1), 1)

    def setup(self, stage: str | None = None) -> None:
        rank, world, local = self._rank_world()
        if self.datasets and self.shard == (rank, world):
            return
        if self.files is None:
            self._read_metadata()
        self.shard = (rank, world)
        self._device_splits = {}
        rows = {name: shard_rows(np.flatnonzero(self.assignment == name), rank, world)
                for name in SPLITS}
        if self.cache == "ram":
            n = sum(len(r) for r in rows.values())
            need = n * self.files.n_voxels * self.files.dtype.itemsize * local
            check_fits(need, f"{n} rows x {self.files.n_voxels} voxels in {self.files.dtype}"
                             + (f" x {local} ranks on this node" if local > 1 else ""),
                       str(self.files.paths[0]))
        for name in SPLITS:
            self.datasets[name] = BoldSamples(self.files, rows[name], self.trials, self.mean,
                                              self.std, self._images,
                                              "none" if self.cache == "gpu" else self.cache)
        self.files.close()  # nothing open before workers fork

    def _read_metadata(self) -> None:
        """Samples, split, masks and training statistics: everything but the split data."""
        self.files = files = PreparedSet(self.path)
        self.trials, self.mask, self.affine = files.trials, files.mask, files.affine
        self.attrs = files.attrs
        self._images = files.images() if self.include_images else None
        assignment = self.split.assign(self.trials)
        check_split_keeps_groups(self.attrs, self.trials, assignment, str(files.paths[0]))
        if self.labeled_only:
            assignment = np.where(self.trials.label.to_numpy() >= 0, assignment, "excluded")
        self.assignment = assignment
        train_rows = np.flatnonzero(assignment == "train")
        if len(train_rows) == 0:
            raise InputError(files.paths[0], "the split leaves no training samples")
        self.mean, self.std = self._fit_normalisation(files, train_rows)

    def _fit_normalisation(self, files: PreparedSet,
                           rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All training rows (every rank computes the same), in float64 chunks of STATS_ROWS
        rows: a constant of about 1.5 x 32 x V x 8 bytes (50 MiB at V = 140k)."""
        n_vox = files.n_voxels
        if self.normalize == "none":
            return np.zeros(n_vox, np.float32), np.ones(n_vox, np.float32)
        total = np.zeros(n_vox, np.float64)
        total_sq = np.zeros(n_vox, np.float64)
        for start in range(0, len(rows), STATS_ROWS):
            block = files.read(rows[start:start + STATS_ROWS], np.float64)
            total += block.sum(0)
            total_sq += np.square(block, out=block).sum(0)  # in place: no second block
        mean = total / len(rows)
        if self.normalize == "mean":
            return mean.astype(np.float32), np.ones(n_vox, np.float32)
        std = np.sqrt(np.maximum(total_sq / len(rows) - mean ** 2, 0.0))
        return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)

    def split_labels(self, name: str) -> np.ndarray:
        """Labels of every row of split ``name``, on all ranks together: the full index, not
        this rank's shard (whose padded rows would also count twice). A class weight computed
        from a rank's shard would differ from rank to rank and from the single-process run."""
        if self.assignment is None:
            self._read_metadata()
        return self.trials.label.to_numpy()[self.assignment == name]

    @property
    def volume_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.mask.shape)

    @property
    def ground_truth(self) -> dict[str, Any]:
        truth = self.attrs.get("ground_truth", {})
        return truth if isinstance(truth, dict) else {}

    def _device(self) -> torch.device:
        """The trainer's device when attached, else CUDA when present, else the CPU."""
        if self.trainer is not None:
            return self.trainer.strategy.root_device
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def device_split(self, name: str) -> DeviceSplit:
        """Split ``name`` (this rank's shard) resident on the device (gpu mode); read in its
        stored dtype (float16 stays float16) and moved there on first use."""
        if name not in self._device_splits:
            ds = self.datasets[name]
            raw = self.files.read(ds.rows, self.files.dtype)
            self.files.close()
            self._device_splits[name] = DeviceSplit(
                raw, ds.rows, {k: v.numpy() for k, v in ds.meta.items()},
                self.mean, self.std, self._images, self._device())
        return self._device_splits[name]

    def _loader(self, name: str, shuffle: bool) -> DataLoader | DeviceBatches:
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        if self.cache == "gpu":  # the split is this rank's shard already
            return DeviceBatches(self.device_split(name), self.batch_size, shuffle, seed=seed)
        pin = self.pin_memory if self.pin_memory != "auto" else self._device().type == "cuda"
        self.datasets[name].load()  # here, not in each worker (ram: workers share the cache)
        dataset = Batched(self.datasets[name])
        sampler = None
        if self.shard[1] > 1:  # sharded here: a one-replica DistributedSampler shuffles per
            # epoch (Lightning calls set_epoch) and stops Lightning from sharding it again
            sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=shuffle,
                                         seed=seed)
            shuffle = False
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, sampler=sampler,
                          num_workers=self.num_workers, pin_memory=pin,
                          collate_fn=batch_is_ready,
                          persistent_workers=self.persistent_workers, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def split_table(self) -> pd.DataFrame:
        """Which group went where: written into every run's outputs."""
        cols = ["subject", "session", "run"]
        table = self.trials[cols].copy()
        if self.files is not None and len(self.files.paths) > 1:
            table["file"] = [self.files.paths[i].name for i in self.trials["file"]]
        table["split"] = self.assignment
        return table.drop_duplicates().sort_values(cols)
