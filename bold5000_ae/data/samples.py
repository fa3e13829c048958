"""The Dataset of one split: per-item dicts, and whole batches in one gather (``get_batch``).

``cache=ram`` holds the split in its stored dtype, filled chunk by chunk, so its peak is the
split in that dtype plus one chunk, not a float32 copy per processing step.
float32 files are normalised in place while loading (a batch is then one gather); other dtypes
(float16) stay raw and each batch is cast and normalised, exactly as ``cache=none`` and
``cache=gpu`` do it, so every mode serves the same numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from bold5000_ae.data.gpu_cache import META_KEYS
from bold5000_ae.data.prepared_set import PreparedSet

CacheMode = Literal["none", "ram", "gpu"]
CHUNK_ROWS = 64  # rows read (and normalised) at a time while filling the RAM cache: 34 MiB
# of float32 at V = 140k


def load_split(files: PreparedSet, rows: np.ndarray, mean: np.ndarray, std: np.ndarray,
               normalise: bool) -> np.ndarray:
    """The split's rows in the stored dtype, filled (and if asked, normalised) chunk by chunk."""
    buf = np.empty((len(rows), files.n_voxels), files.dtype)
    for start in range(0, len(rows), CHUNK_ROWS):
        block = buf[start:start + CHUNK_ROWS]
        files.read(rows[start:start + CHUNK_ROWS], files.dtype, out=block)
        if normalise:
            np.subtract(block, mean, out=block)
            np.divide(block, std, out=block)
    return buf


class BoldSamples(Dataset):
    """Samples of one split as dicts: bold (V,), label, image (3,H,W) in [0,1], ids.

    ``rows`` are global row numbers of ``files`` (``index`` in every batch)."""

    def __init__(self, files: PreparedSet, rows: np.ndarray, trials: pd.DataFrame,
                 mean: np.ndarray, std: np.ndarray, images: np.ndarray | None,
                 cache: CacheMode = "ram") -> None:
        self.files, self.rows, self.cache = files, np.asarray(rows, np.int64), cache
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self._mean_t, self._std_t = torch.from_numpy(self.mean), torch.from_numpy(self.std)
        self.meta = {k: torch.as_tensor(trials[k].to_numpy()[self.rows]) for k in META_KEYS}
        self.images = None if images is None else torch.from_numpy(images)
        self._bold: torch.Tensor | None = None  # ram: loaded on first use (``load``)
        self._normalised = cache == "ram" and files.dtype == np.float32

    def load(self) -> None:
        """Fill the RAM cache (ram mode; a no-op once done). Lazy, so a datamodule set up in
        the launching process and sent to DDP ranks carries no data, only its rows."""
        if self.cache == "ram" and self._bold is None:
            self._bold = torch.from_numpy(load_split(self.files, self.rows, self.mean,
                                                     self.std, self._normalised))
            self.files.close()

    @property
    def path(self) -> str:
        return str(self.files.paths[0])

    @property
    def _h5(self) -> object | None:
        """An open handle of this process, if any (None before first use and in a fresh
        worker: handles are never pickled)."""
        return self.files if self.files.is_open else None

    def __len__(self) -> int:
        return len(self.rows)

    def _normalise(self, bold: torch.Tensor) -> torch.Tensor:
        return bold.float().sub_(self._mean_t).div_(self._std_t)

    def _gather(self, idx: torch.Tensor) -> torch.Tensor:
        self.load()
        if self._bold is not None:
            bold = self._bold.index_select(0, idx)  # a fresh tensor: safe to modify
            return bold if self._normalised else self._normalise(bold)
        rows = self.files.read(self.rows[idx.numpy()], np.float32)  # a fresh array
        np.subtract(rows, self.mean, out=rows)  # in place: no batch-sized temporaries
        return torch.from_numpy(np.divide(rows, self.std, out=rows))

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"bold": self._gather(torch.tensor([i]))[0],
                "index": torch.tensor(int(self.rows[i]))}
        item.update({k: v[i] for k, v in self.meta.items()})
        if self.images is not None:
            img_idx = int(self.meta["image_index"][i])
            item["image"] = self.images[img_idx].permute(2, 0, 1).float() / 255.0
        return item

    def get_batch(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """The samples at ``indices`` as one batch: what ``__getitem__`` + collate would give,
        from one gather (RAM) or one sorted HDF5 read instead of one call per sample."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = {"bold": self._gather(idx), "index": torch.from_numpy(self.rows[idx.numpy()])}
        batch.update({k: v[idx] for k, v in self.meta.items()})
        if self.images is not None:
            img = self.images[batch["image_index"].long()]
            batch["image"] = img.permute(0, 3, 1, 2).float() / 255.0
        return batch


def batch_is_ready(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """collate_fn for ``Batched``: the dataset already returns a whole batch."""
    return batch


class Batched(Dataset):
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
