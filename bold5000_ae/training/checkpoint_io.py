"""Checkpoint IO in one place: atomic writes, which file a run resumes from, and loading weights
from Lightning checkpoints (tensors only, compiled or not, shapes checked).

A resumed or tested run's checkpoint is read once, by Lightning, through ``AtomicCheckpointIO``
(``weights_only``; an unreadable file is one line) and checked against the module in its
``on_load_checkpoint`` (``models/components/base.py``; same rule as ``load_into``).

Writes go to a temporary name in the same folder, fsynced, then renamed: a crash (SIGKILL, full
disk) mid-save leaves the previous checkpoint intact under its name and never a truncated file.

Why these rules: ``torch.load(weights_only=True)`` never unpickles code (modules here do not
call ``save_hyperparameters``, so a checkpoint holds only tensors and plain values);
``torch.compile`` stores weights under ``_orig_mod.``, which is stripped wherever it appears, so a
compiled run's checkpoint loads into a plain module and back; and a checkpoint for another
architecture is refused with one line naming the first mismatch instead of a page of
``load_state_dict`` errors or, worse, a silent partial load.

Integrity and moves (see ``checkpoint_integrity.py``): every checkpoint written here carries a
SHA-256 of its contents, verified on every load (a bit-flipped file is refused, naming it), and
stores ModelCheckpoint's paths relative to its own folder, so a moved run folder resumes and
tests its best checkpoint from the new place.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch import nn

from bold5000_ae.training.checkpoint_integrity import (
    absolute_paths,
    relative_paths,
    verify,
    with_digest,
)
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.state_dict import COMPILED_PREFIX, check_state, clean_key, fill_optional

__all__ = ["COMPILED_PREFIX", "AtomicCheckpointIO", "clean_key", "load_into", "load_state_dict",
           "load_submodule", "read_checkpoint", "select"]


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> Any:
    """``torch.load(weights_only=True)``, or a one-line InputError (missing file, pickled code,
    truncated file, not a torch file)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # unpickling refused, truncated file, not a torch file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(path, f"cannot load as a weights-only checkpoint: {first}") from exc
    if isinstance(payload, Mapping):
        verify(payload, path)  # a flipped bit: refused, naming the file
    return payload


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The model weights of a Lightning checkpoint (or a bare state dict), keys cleaned."""
    payload = read_checkpoint(path)
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping):
        raise InputError(path, "holds no state_dict")
    return {clean_key(k): v for k, v in state.items() if torch.is_tensor(v)}


def select(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under ``prefix`` (e.g. ``net.encoder.``) with the prefix removed."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def load_into(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path,
              what: str = "model") -> None:
    """Copy ``state`` into ``module`` exactly, or raise a one-line InputError naming the first
    missing, unexpected or differently shaped tensor."""
    state = fill_optional(module, state)
    check_state(module, state, source, what)
    target = module._orig_mod if hasattr(module, "_orig_mod") else module
    target.load_state_dict({clean_key(k): v for k, v in state.items()}, strict=True)


def load_submodule(module: nn.Module, path: str | Path, prefix: str) -> None:
    """Load the checkpoint's ``prefix`` entries (e.g. ``net.encoder.``) into ``module``."""
    load_into(module, select(load_state_dict(path), prefix), path, what=prefix.rstrip("."))


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, through write-then-rename (see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        checkpoint = with_digest(relative_paths(checkpoint, Path(path).parent))
        size = sum(t.numel() * t.element_size() for t in _tensors(checkpoint))
        with atomic_path(path, expected_bytes=size) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: str | Path, map_location: Any = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        """Lightning's one read of a checkpoint: weights only whatever the caller asks, errors in
        one line, and the path kept so ``on_load_checkpoint`` can name it."""
        checkpoint = read_checkpoint(path, map_location if map_location is not None else "cpu")
        if not isinstance(checkpoint, dict):
            raise InputError(path, "is not a Lightning checkpoint")
        checkpoint["_source"] = str(path)
        return absolute_paths(checkpoint, Path(path).parent)  # a moved run folder resumes


def _tensors(obj: Any) -> list[torch.Tensor]:
    if torch.is_tensor(obj):
        return [obj]
    if isinstance(obj, Mapping):
        return [t for v in obj.values() for t in _tensors(v)]
    if isinstance(obj, list | tuple):
        return [t for v in obj for t in _tensors(v)]
    return []
