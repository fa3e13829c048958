"""The LightningDataModule over one prepared HDF5 file.

It splits by whole groups (see ``splits.py``), fits normalisation on the training split only,
and serves batches as dicts. No h5py handle is ever pickled: each worker opens its own file on
first use (``__getstate__`` drops the handle), or the data is loaded into RAM and the file closed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials
from bold5000_ae.data.splits import SPLIT_NAMES, GroupHoldoutSplit
from bold5000_ae.errors import InputError

CacheMode = Literal["none", "ram"]


def _read_rows(h5_bold: Any, rows: np.ndarray, block: int = 256) -> np.ndarray:
    """Read rows in sorted blocks (h5py fancy indexing needs increasing indices)."""
    order = np.argsort(rows)
    out = np.empty((len(rows), h5_bold.shape[1]), np.float32)
    sorted_rows = rows[order]
    for start in range(0, len(rows), block):
        chunk = sorted_rows[start:start + block]
        out[order[start:start + block]] = h5_bold[chunk]
    return out


class BoldSamples(Dataset):
    """Samples of one split as dicts: bold (V,), label, image (3,H,W) in [0,1], ids."""

    def __init__(self, path: str | Path, rows: np.ndarray, trials: pd.DataFrame,
                 mean: np.ndarray, std: np.ndarray, images: np.ndarray | None,
                 cache: CacheMode = "ram") -> None:
        self.path, self.rows, self.cache = str(path), np.asarray(rows), cache
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.meta = {k: torch.as_tensor(trials[k].to_numpy()[self.rows])
                     for k in ("label", "subject", "session", "run", "trial", "image_index")}
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


class BoldDataModule(LightningDataModule):
    """Batches from a prepared HDF5 file, split by groups, normalised with training statistics.

    ``normalize``: ``voxel`` (per-voxel mean and std of the training split), ``mean`` (subtract
    the training mean only) or ``none``. After ``voxel`` or ``mean`` the training-mean volume is
    zero, which is the reference R² is computed against.
    ``labeled_only``: keep only samples with a living/non-living label (classification tasks).
    """

    def __init__(self, path: str | Path, split: GroupHoldoutSplit | None = None,
                 batch_size: int = 32, num_workers: int = 0, cache: CacheMode = "ram",
                 normalize: Literal["voxel", "mean", "none"] = "voxel",
                 include_images: bool = False, labeled_only: bool = False,
                 pin_memory: bool = False, persistent_workers: bool = False) -> None:
        super().__init__()
        if cache not in ("none", "ram"):
            raise InputError("data.cache", f"unknown cache mode {cache!r}; valid: none, ram")
        if normalize not in ("voxel", "mean", "none"):
            raise InputError("data.normalize", f"unknown {normalize!r}; valid: voxel, mean, none")
        self.path = Path(path)
        self.split = split or GroupHoldoutSplit()
        self.batch_size, self.num_workers, self.cache = batch_size, num_workers, cache
        self.normalize, self.include_images = normalize, include_images
        self.labeled_only, self.pin_memory = labeled_only, pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.datasets: dict[str, BoldSamples] = {}
        self.assignment: np.ndarray | None = None

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
            if self.labeled_only:
                assignment = np.where(trials.label.to_numpy() >= 0, assignment, "excluded")
            self.assignment = assignment
            train_rows = np.flatnonzero(assignment == "train")
            if len(train_rows) == 0:
                raise InputError(self.path, "the split leaves no training samples")
            self.mean, self.std = self._fit_normalisation(h5["bold"], train_rows)
        self.trials = trials
        for name in SPLIT_NAMES:
            rows = np.flatnonzero(assignment == name)
            self.datasets[name] = BoldSamples(self.path, rows, trials, self.mean, self.std,
                                              images, self.cache)

    def _fit_normalisation(self, bold: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_vox = bold.shape[1]
        if self.normalize == "none":
            return np.zeros(n_vox, np.float32), np.ones(n_vox, np.float32)
        total = np.zeros(n_vox, np.float64)
        total_sq = np.zeros(n_vox, np.float64)
        for start in range(0, len(rows), 512):
            block = _read_rows(bold, rows[start:start + 512]).astype(np.float64)
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

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(self.datasets[name], batch_size=self.batch_size, shuffle=shuffle,
                          num_workers=self.num_workers, pin_memory=self.pin_memory,
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
