"""The identity of the prepared file a run trained on: a SHA-256 of its bytes, in the run folder.

Why: a path says where the data is, not what it is. A file re-prepared under the same name
(other cleaning, other voxels) was evaluated against the checkpoint with no warning, and the
PCA-k baseline moved from 0.20 to 0.41. Training records ``data_identity.json`` when it starts;
a resume and ``bold5000-ae-eval`` compare the file with it. The file is streamed in 8 MiB
blocks, so memory stays flat (about a second per GiB).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError

IDENTITY_FILE = "data_identity.json"
BLOCK = 8 * 2**20


def file_identity(path: str | Path) -> dict[str, Any]:
    """``{"path", "bytes", "sha256"}`` of ``path``, read once in blocks."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(BLOCK):
                digest.update(block)
    except OSError as exc:
        raise InputError(path, f"cannot read the prepared file: {exc.strerror or exc}") from None
    return {"path": str(path.absolute()), "bytes": path.stat().st_size,
            "sha256": digest.hexdigest()}


def recorded_identity(run_dir: Path) -> dict[str, Any] | None:
    """The identity a run recorded, or None for a run that recorded none."""
    try:
        record = json.loads((run_dir / IDENTITY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "sha256" in record else None


def record_identity(run_dir: Path, data_path: str | Path) -> dict[str, Any]:
    """Write ``<run>/data_identity.json`` for the file the run trains on."""
    identity = file_identity(data_path)
    with atomic_path(run_dir / IDENTITY_FILE) as tmp:
        tmp.write_text(json.dumps(identity, indent=2))
    return identity


def check_identity(run_dir: Path, data_path: str | Path, what: str,
                   allow_mismatch: bool = False, override: str = "") -> bool:
    """Refuse (or, with ``allow_mismatch``, warn loudly) when ``data_path`` is not the file the
    run in ``run_dir`` trained on; False when the run recorded no identity (nothing to check)."""
    saved = recorded_identity(run_dir)
    if saved is None:
        return False
    now = file_identity(data_path)
    if now["sha256"] == saved["sha256"]:
        return True
    problem = (f"is not the file this run trained on (SHA-256 {now['sha256'][:12]}…, "
               f"{now['bytes']} bytes; the run recorded {saved['sha256'][:12]}…, "
               f"{saved['bytes']} bytes, in {run_dir / IDENTITY_FILE}): re-prepared or replaced")
    if not allow_mismatch:
        hint = f"; {override} to {what} anyway" if override else ""
        raise InputError(data_path, f"{problem}{hint}")
    print(f"WARNING: {data_path}: {problem}. {what} goes on because of {override}: its numbers "
          "are NOT the checkpoint's numbers on its own data.", file=sys.stderr)
    return True
