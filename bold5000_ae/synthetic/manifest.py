"""What ``bold5000-ae-synth`` wrote into its output folder, so a regeneration removes only that.

Why: ``overwrite=true`` replaces a dataset folder, and a folder is where a user also keeps notes,
a hand-made mask or results. The generator records every file it wrote in ``MANIFEST_NAME``
(written atomically, last, so a folder with a manifest is complete); an overwrite first checks
that the folder holds nothing else and refuses in one line, naming the first file it did not
write, or a non-empty folder with no manifest at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError

MANIFEST_NAME = ".bold5000-ae-synth.json"
WRITER = "bold5000-ae-synth"


def _entries(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def write_manifest(folder: str | Path) -> Path:
    """Record every file and folder now under ``folder`` (once the generator has finished)."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    entries = [e for e in _entries(folder) if e != MANIFEST_NAME]
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"written_by": WRITER, "entries": entries}, indent=1))
    return path


def _recorded(folder: Path) -> set[str] | None:
    """The entries the manifest lists, or None when there is no readable manifest."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        recorded = json.loads(path.read_text())
        files = recorded["entries"] if recorded.get("written_by") == WRITER else None
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
    if not isinstance(files, list):
        return None
    return {str(f) for f in files}


def check_replaceable(folder: str | Path) -> None:
    """Refuse (one line) to replace ``folder`` unless everything in it was written by synth.

    An empty folder is replaceable (nothing to lose).
    """
    folder = Path(folder)
    entries = _entries(folder)
    if not entries:
        return
    files = _recorded(folder)
    if files is None:
        raise InputError(folder, f"is not empty and has no {MANIFEST_NAME} (not written by "
                                 f"{WRITER}); refusing to replace it: move its files away or "
                                 "choose another output_dir")
    for entry in entries:
        if entry == MANIFEST_NAME or entry in files:
            continue
        raise InputError(folder / entry, f"was not written by {WRITER}; refusing to replace "
                                         f"{folder} (move the file away or choose another "
                                         "output_dir)")
