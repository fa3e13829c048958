"""The LightningDataModule over one prepared HDF5 file.

It splits by whole groups (see ``splits.py``), fits normalisation on the training split only,
and serves batches as dicts. No h5py handle is ever pickled: each worker opens its own file on
first use (``__getstate__`` drops the handle), or the data is loaded into RAM and the file closed.

Cache modes (``cache``), all serving the same normalised float32 batches:
``none`` reads the HDF5 file per batch; ``ram`` loads each split once and closes the file;
``gpu`` holds each split on the trainer's device in its storage dtype and slices and normalises
batches there (``gpu_cache.py``; no workers, no host copies). ``none`` and ``ram`` fetch a whole
batch per call (one gather, no per-item collation) and pin host memory when training on CUDA
(``pin_memory: auto``); Lightning then copies batches with ``non_blocking=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from bold5000_ae.data.gpu_cache import META_KEYS, DeviceBatches, DeviceSplit
from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.data.sources.base import check_split_keeps_groups
from bold5000_ae.utils.errors import InputError

if TYPE_CHECKING:  # splits pulls in scikit-learn; the GPU benchmark path runs without it
    from bold5000_ae.data.splits import Split

CacheMode = Literal["none", "ram", "gpu"]
CACHE_MODES = ("none", "ram", "gpu")
SPLITS = ("train", "val", "test")  # the names splits.SPLIT_NAMES assigns


def _read_rows(h5_bold: Any, rows: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
    """``h5_bold[rows]`` for rows in any order, as ``dtype``.

    Reads runs of consecutive rows with ``read_direct`` in the stored dtype, then casts and
    reorders in one numpy pass. Why not ``h5_bold[sorted_rows]``: h5py's fancy indexing builds a
    selection point by point; a 32-row batch at 88 x 88 x 66 took 800 ms that way and 25 ms as
    row reads. Why not let HDF5 cast: its float16 conversion was 5 times slower than numpy's.
    """
    rows = np.asarray(rows, dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    buf = np.empty((len(rows), h5_bold.shape[1]), h5_bold.dtype)
    if len(rows):
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for a, b in zip(np.r_[0, breaks], np.r_[breaks, len(rows)], strict=True):
            h5_bold.read_direct(buf, np.s_[sorted_rows[a]:sorted_rows[b - 1] + 1], np.s_[a:b])
    if np.array_equal(order, np.arange(len(rows))):
        return buf.astype(dtype, copy=False)
    out = np.empty(buf.shape, dtype)
    out[order] = buf
    return out


def _batch_is_ready(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """collate_fn for ``_Batched``: the dataset already returns a whole batch."""
    return batch


class BoldSamples(Dataset):
    """Samples of one split as dicts: bold (V,), label, image (3,H,W) in [0,1], ids."""

    def __init__(self, path: str | Path, rows: np.ndarray, trials: pd.DataFrame,
                 mean: np.ndarray, std: np.ndarray, images: np.ndarray | None,
                 cache: CacheMode = "ram") -> None:
        self.path, self.rows, self.cache = str(path), np.asarray(rows), cache
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.meta = {k: torch.as_tensor(trials[k].to_numpy()[self.rows])
                     for k in META_KEYS}
        self.images = None if images is None else torch.from_numpy(images)
        self._h5 = None
        self._bold: torch.Tensor | None = None
        if cache == "ram":
            with open_prepared(self.path) as h5:
                bold = _read_rows(h5["bold"], self.rows)
            self._bold = torch.from_numpy((bold - self.mean) / self.std)

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"] = None  # each worker opens its own handle
        return state

    def _bold_row(self, i: int) -> torch.Tensor:
        if self._bold is not None:
            return self._bold[i]
        if self._h5 is None:
            self._h5 = open_prepared(self.path)
        row = self._h5["bold"][int(self.rows[i])].astype(np.float32)
        return torch.from_numpy((row - self.mean) / self.std)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"bold": self._bold_row(i), "index": torch.tensor(int(self.rows[i]))}
        item.update({k: v[i] for k, v in self.meta.items()})
        if self.images is not None:
            img_idx = int(self.meta["image_index"][i])
            item["image"] = self.images[img_idx].permute(2, 0, 1).float() / 255.0
        return item

    def get_batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The samples at ``indices`` as one batch: what ``__getitem__`` + collate would give,
        from one gather (RAM) or one sorted HDF5 read instead of one call per sample."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        if self._bold is not None:
            bold = self._bold.index_select(0, idx)
        else:
            if self._h5 is None:
                self._h5 = open_prepared(self.path)
            rows = _read_rows(self._h5["bold"], self.rows[idx.numpy()])  # a fresh array
            np.subtract(rows, self.mean, out=rows)  # in place: no batch-sized temporaries
            bold = torch.from_numpy(np.divide(rows, self.std, out=rows))
        batch = {"bold": bold, "index": torch.from_numpy(self.rows[idx.numpy()])}
        batch.update({k: v[idx] for k, v in self.meta.items()})
        if self.images is not None:
            img = self.images[batch["image_index"].long()]
            batch["image"] = img.permute(0, 3, 1, 2).float() / 255.0
        return batch


class _Batched(Dataset):
    """A view whose batched fetch (``__getitems__``) returns a ready batch; used only inside the
    datamodule's loaders, so ``datamodule.datasets`` keep plain per-item semantics."""

    def __init__(self, samples: BoldSamples) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.samples[i]

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.samples.get_batch(indices)


class BoldDataModule(LightningDataModule):
    """Batches from a prepared HDF5 file, split by groups, normalised with training statistics.

    ``normalize``: ``voxel`` (per-voxel mean and std of the training split), ``mean`` (subtract
    the training mean only) or ``none``. After ``voxel`` or ``mean`` the training-mean volume is
    zero, which is the reference R² is computed against.
    ``labeled_only``: keep only samples with a living/non-living label (classification tasks).
    ``cache``: ``none``, ``ram`` or ``gpu`` (see the module docstring); ``gpu`` ignores
    ``num_workers`` and ``pin_memory``. ``pin_memory``: ``auto`` pins when training on CUDA.
    """

    def __init__(self, path: str | Path, split: Split | None = None,
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
            from bold5000_ae.data.splits import GroupHoldoutSplit
            split = GroupHoldoutSplit()
        self.path = Path(path)
        self.split = split
        self.batch_size, self.num_workers, self.cache = batch_size, num_workers, cache
        self.normalize, self.include_images = normalize, include_images
        self.labeled_only, self.pin_memory = labeled_only, pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.datasets: dict[str, BoldSamples] = {}
        self.assignment: np.ndarray | None = None
        self._raw: dict[str, np.ndarray] = {}  # gpu mode: stored rows until moved to the device
        self._device_splits: dict[str, DeviceSplit] = {}
        self._images: np.ndarray | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        with open_prepared(self.path) as h5:
            trials = read_trials(h5)
            self.mask = h5["mask"][()]
            self.affine = h5["affine"][()]
            self.attrs = read_attrs(h5)
            images = h5["images"][()] if self.include_images else None
            assignment = self.split.assign(trials)
            check_split_keeps_groups(self.attrs, trials, assignment, str(self.path))
            if self.labeled_only:
                assignment = np.where(trials.label.to_numpy() >= 0, assignment, "excluded")
            self.assignment = assignment
            train_rows = np.flatnonzero(assignment == "train")
            if len(train_rows) == 0:
                raise InputError(self.path, "the split leaves no training samples")
            self.mean, self.std = self._fit_normalisation(h5["bold"], train_rows)
            if self.cache == "gpu":  # stored dtype (float16 stays float16) until on the device
                self._raw = {name: _read_rows(h5["bold"], np.flatnonzero(assignment == name),
                                              dtype=h5["bold"].dtype) for name in SPLITS}
        self.trials, self._images = trials, images
        for name in SPLITS:
            rows = np.flatnonzero(assignment == name)
            self.datasets[name] = BoldSamples(self.path, rows, trials, self.mean, self.std,
                                              images, "none" if self.cache == "gpu" else self.cache)

    def _fit_normalisation(self, bold: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_vox = bold.shape[1]
        if self.normalize == "none":
            return np.zeros(n_vox, np.float32), np.ones(n_vox, np.float32)
        total = np.zeros(n_vox, np.float64)
        total_sq = np.zeros(n_vox, np.float64)
        for start in range(0, len(rows), 512):
            block = _read_rows(bold, rows[start:start + 512], np.float64)
            total += block.sum(0)
            total_sq += (block ** 2).sum(0)
        mean = total / len(rows)
        if self.normalize == "mean":
            return mean.astype(np.float32), np.ones(n_vox, np.float32)
        std = np.sqrt(np.maximum(total_sq / len(rows) - mean ** 2, 0.0))
        return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)

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
        """Split ``name`` resident on the device (gpu mode); moved there on first use."""
        if name not in self._device_splits:
            ds = self.datasets[name]
            self._device_splits[name] = DeviceSplit(
                self._raw.pop(name), ds.rows, {k: v.numpy() for k, v in ds.meta.items()},
                self.mean, self.std, self._images, self._device())
        return self._device_splits[name]

    def _loader(self, name: str, shuffle: bool) -> DataLoader | DeviceBatches:
        if self.cache == "gpu":
            trainer = self.trainer
            return DeviceBatches(self.device_split(name), self.batch_size, shuffle,
                                 seed=int(os.environ.get("PL_GLOBAL_SEED", 0)),
                                 rank=trainer.global_rank if trainer else 0,
                                 world_size=trainer.world_size if trainer else 1)
        pin = self.pin_memory if self.pin_memory != "auto" else self._device().type == "cuda"
        return DataLoader(_Batched(self.datasets[name]), batch_size=self.batch_size,
                          shuffle=shuffle, num_workers=self.num_workers, pin_memory=pin,
                          collate_fn=_batch_is_ready,
                          persistent_workers=self.persistent_workers, drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def split_table(self) -> pd.DataFrame:
        """Which group went where: written into every run's outputs."""
        table = self.trials[["subject", "session", "run"]].copy()
        table["split"] = self.assignment
        return table.drop_duplicates().sort_values(["subject", "session", "run"])
