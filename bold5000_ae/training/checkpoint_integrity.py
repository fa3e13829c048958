"""A checkpoint's checksum and its location-independent paths.

Why a digest of the contents inside the file rather than a sidecar ``.sha256``: the file is
renamed into place atomically, and a sidecar written after it could be missing or stale if the
writer is killed between the two renames, which would turn a good checkpoint into a "corrupt"
one. The digest covers every tensor's bytes, dtype and shape and every plain value, in a fixed
order, so any flipped bit in the weights, optimizer state or counters is caught on load.

Why relative paths: ModelCheckpoint stores absolute paths (``best_model_path``...). A run folder
moved to another disk or machine then restores a best path that does not exist. Paths inside the
checkpoint's own folder are stored relative to it and made absolute again on load.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bold5000_ae.utils.errors import InputError

KEY = "bold5000_ae_integrity"
_PATH_FIELDS = ("best_model_path", "kth_best_model_path", "last_model_path")


def _feed(h: Any, obj: Any) -> None:
    if torch.is_tensor(obj):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, Mapping):
        h.update(b"{")
        for key in sorted(obj, key=str):
            if key != KEY:
                h.update(repr(key).encode())
                _feed(h, obj[key])
        h.update(b"}")
    elif isinstance(obj, list | tuple):
        h.update(b"[")
        for item in obj:
            _feed(h, item)
        h.update(b"]")
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def digest(checkpoint: Mapping[str, Any]) -> str:
    """SHA-256 over every value of the checkpoint except the digest itself."""
    h = hashlib.sha256()
    _feed(h, checkpoint)
    return h.hexdigest()


def with_digest(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of ``checkpoint`` carrying its digest."""
    return {**checkpoint, KEY: {"sha256": digest(checkpoint)}}


def verify(checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose contents no longer match its digest (checkpoints written
    before digests existed carry none and load as before)."""
    stored = checkpoint.get(KEY)
    if isinstance(stored, Mapping) and stored.get("sha256") != digest(checkpoint):
        raise InputError(path, "checksum mismatch: the checkpoint is corrupted (bit rot, an "
                               "interrupted copy); use another checkpoint or start afresh")


def _model_checkpoint_states(checkpoint: Mapping[str, Any]) -> list[str]:
    callbacks = checkpoint.get("callbacks")
    if not isinstance(callbacks, Mapping):
        return []
    return [k for k, v in callbacks.items()
            if str(k).startswith("ModelCheckpoint") and isinstance(v, Mapping)]


def _convert(checkpoint: Mapping[str, Any], folder: Path, to_relative: bool) -> dict[str, Any]:
    keys = _model_checkpoint_states(checkpoint)
    if not keys:
        return dict(checkpoint)
    real = os.path.realpath(folder)
    out = dict(checkpoint)
    out["callbacks"] = dict(checkpoint["callbacks"])

    def convert(p: Any) -> Any:
        if not isinstance(p, str) or not p:
            return p
        if to_relative:
            inside = os.path.dirname(os.path.realpath(p)) == real
            return os.path.basename(p) if inside else p
        return p if os.path.isabs(p) else os.path.join(real, p)

    for key in keys:
        state = dict(checkpoint["callbacks"][key])
        ours = (state.get("dirpath") and os.path.realpath(state["dirpath"]) == real
                if to_relative else state.get("dirpath") == ".")
        if not ours:
            continue  # checkpoints kept elsewhere, or written before: paths left as they are
        state["dirpath"] = "." if to_relative else real
        for field in _PATH_FIELDS:
            if field in state:
                state[field] = convert(state[field])
        if isinstance(state.get("best_k_models"), Mapping):
            state["best_k_models"] = {convert(k): v for k, v in state["best_k_models"].items()}
        out["callbacks"][key] = state
    return out


def relative_paths(checkpoint: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """ModelCheckpoint's paths inside ``folder`` (the checkpoint's own) made relative to it."""
    return _convert(checkpoint, folder, to_relative=True)


def absolute_paths(checkpoint: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """The inverse of :func:`relative_paths`, under the folder the file is in now."""
    return _convert(checkpoint, folder, to_relative=False)
