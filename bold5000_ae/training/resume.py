"""Which checkpoint a run starts from: none, an explicit path, or the newest in its own folder.

``ckpt_path=last`` (or ``auto_resume=true``) resumes from ``<output_dir>/checkpoints/last.ckpt``
when it exists. Pin the output folder to rerun into it: ``hydra.run.dir=logs/my_run``.
"""

from __future__ import annotations

from pathlib import Path

from bold5000_ae.errors import InputError


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str | Path,
                      auto_resume: bool = False) -> str | None:
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if ckpt_path in (None, "", "null"):
        return str(last) if auto_resume and last.is_file() else None
    if ckpt_path == "last":
        if not last.is_file():
            if auto_resume:
                return None
            raise InputError(last, "no checkpoint to resume from (ckpt_path=last looks in this "
                                   "run's folder; set hydra.run.dir to the run to resume)")
        return str(last)
    if not Path(ckpt_path).is_file():
        raise InputError(ckpt_path, "checkpoint file not found")
    return str(ckpt_path)
