"""The plain data path, the benchmarks' baseline: one ``.nii.gz`` per volume, loaded
with nibabel twice per sample (once for the data, once for its maximum), float64 ``get_fdata``,
scaled by the maximum, collated by a plain DataLoader."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset


class SeedVolumes(Dataset):
    def __init__(self, paths: list[Path]) -> None:
        self.paths = [str(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        import nibabel as nib

        data = nib.load(self.paths[i]).get_fdata()
        peak = nib.load(self.paths[i]).get_fdata().max()
        return torch.from_numpy(data / peak).float().unsqueeze(0)


def seed_loader(paths: list[Path], batch_size: int, num_workers: int = 0) -> DataLoader:
    return DataLoader(SeedVolumes(paths), batch_size=batch_size, shuffle=True,
                      num_workers=num_workers)
