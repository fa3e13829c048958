"""Which checkpoint a run starts from, from ``ckpt_path`` and ``auto_resume`` alone: paths
only, no torch, so the run folder's checks (``run_dir.py``) run before the heavy imports."""

from __future__ import annotations

from pathlib import Path

from bold5000_ae.utils.errors import InputError


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str | Path,
                      auto_resume: bool = False) -> str | None:
    """What ``trainer.fit(ckpt_path=...)`` gets: none, an explicit path (checked), or Lightning's
    ``"last"`` (the newest ``last.ckpt`` of the run's ``ModelCheckpoint``). ``ckpt_path=last``
    with nothing to resume from is refused in one line; ``auto_resume=true`` with nothing there
    starts fresh. Pin the output folder to rerun into it: ``hydra.run.dir=logs/my_run``."""
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if ckpt_path in (None, "", "null"):
        return "last" if auto_resume and last.is_file() else None
    if ckpt_path == "last":
        if not last.is_file():
            raise InputError(last, "no checkpoint to resume from (ckpt_path=last looks in this "
                                   "run's folder; set hydra.run.dir to the run to resume)")
        return "last"
    if not Path(ckpt_path).is_file():
        raise InputError(ckpt_path, "checkpoint file not found")
    return str(ckpt_path)
