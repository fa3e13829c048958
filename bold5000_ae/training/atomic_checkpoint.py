"""Checkpoints written to a temporary name in the same folder, fsynced, then renamed.

Lightning's default writer goes through an fsspec transaction; this plugin makes the guarantee
explicit and local: a crash (SIGKILL, full disk) mid-save leaves the previous checkpoint intact
under its name and never a truncated file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from bold5000_ae.io_utils import atomic_path


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
