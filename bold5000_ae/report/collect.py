"""Read a Hydra multirun folder into one table of runs: overrides, status, error, metrics.

Each job folder (``<sweep dir>/<n>``) holds ``.hydra/overrides.yaml`` and either ``metrics.json``
(finished), ``failed.json`` (the task recorded its exception) or neither: the job is still
running (its ``.lock`` names a live process) or died without a word (killed, out of memory). A
job folder the latest sweep into the folder did not launch (its ``.sweep_id`` is not the one in
``sweep.json``) is ``stale``: listed, never ranked. Nothing here raises on a malformed job; it
becomes a failed row, so a report is always written. A single run folder (``.hydra/`` of its own,
no job folders) is read as one job.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

OK, FAILED, RUNNING, STALE = "ok", "failed", "running", "stale"
# metrics.json "status" of a run that made no optimizer step (trainer.max_epochs=0, an empty
# split): listed with its numbers, never ranked among trained configurations
UNTRAINED = "untrained"
# metrics.json "status" of an Optuna trial its pruner stopped early: listed, never ranked (its
# numbers are an early epoch's)
PRUNED = "pruned"
# written by the MultirunReport callback when a sweep ends: what the sweep optimised and where
# an Optuna study lives (multirun.yaml keeps interpolations that only resolve inside Hydra)
SWEEP_FILE = "sweep.json"
# in each job folder: the sweep_id of the sweep that launched the job (hydra_callbacks.py)
JOB_SWEEP_FILE = ".sweep_id"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_overrides(job_dir: Path) -> list[str]:
    try:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return []
    return [str(o) for o in overrides or []]


def job_dirs(multirun_dir: str | Path) -> list[Path]:
    """Job folders of a sweep, in job order (Hydra names them 0, 1, 2, ...); a single run
    folder is its own one job."""
    root = Path(multirun_dir)
    found = [p for p in root.iterdir() if p.is_dir() and (p / ".hydra").is_dir()]
    if not found and (root / ".hydra").is_dir():
        return [root]
    return sorted(found, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit()
                                        else 0, p.name))


def _running(job_dir: Path) -> bool:
    """The job's run-folder lock names a process that is alive (utils/locks.py writes the
    holder's PID; the kernel drops the lock, not the PID, when the holder dies)."""
    try:
        pid = int((job_dir / ".lock").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return False
    return pid != os.getpid()


def _config_seed(job_dir: Path) -> str:
    try:
        config = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return ""
    seed = config.get("seed") if isinstance(config, dict) else None
    return "" if seed is None else str(seed)


def read_job(job_dir: Path, sweep_id: str | None = None) -> dict[str, Any]:
    """One row: ``job``, ``dir``, ``overrides`` (list), ``status``, ``error`` and every scalar of
    ``metrics.json``. With ``sweep_id``, a job another sweep launched is ``stale``."""
    row: dict[str, Any] = {"job": job_dir.name, "dir": str(job_dir),
                           "overrides": _read_overrides(job_dir), "status": OK, "error": ""}
    failure = _read_json(job_dir / "failed.json")
    metrics = _read_json(job_dir / "metrics.json")
    launched_by = (job_dir / JOB_SWEEP_FILE).read_text().strip() if (
        job_dir / JOB_SWEEP_FILE).is_file() else None
    if sweep_id is not None and launched_by != sweep_id:
        row.update(status=STALE, error="left by an earlier sweep into this folder; the latest "
                                       "sweep did not launch this job (not ranked)")
    elif failure is not None:
        row.update(status=FAILED, error=str(failure.get("error", "unknown error")))
    elif metrics is None and _running(job_dir):
        row.update(status=RUNNING, error="still running (its run-folder lock is held); "
                                         "rerun the report when it ends")
    elif metrics is None:
        reason = ("metrics.json unreadable" if (job_dir / "metrics.json").exists()
                  else "no metrics.json: the job stopped before finishing (killed or crashed)")
        row.update(status=FAILED, error=reason)
    else:
        row.update({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)})
        if metrics.get("status") == UNTRAINED:
            row.update(status=UNTRAINED, error="no optimizer step ran (trainer.max_epochs=0?): "
                                               "an untrained model's numbers, not ranked")
        elif metrics.get("status") == PRUNED:
            epoch = metrics.get("optuna/pruned_at_epoch")
            row.update(status=PRUNED, error=f"pruned by the Optuna search after epoch {epoch} "
                                            "(0-based): an early epoch's numbers, not ranked")
    return row


def read_sweep_info(multirun_dir: str | Path) -> dict[str, Any]:
    """``sweep.json`` of a sweep (objective, direction, Optuna storage and study), or {}."""
    return _read_json(Path(multirun_dir) / SWEEP_FILE) or {}


def job_links(job_dir: Path) -> dict[str, Path]:
    """What a reader opens from a run's row: its folder, composed config, figures, TensorBoard
    logdir and CSV log; only the ones that exist."""
    candidates = {"folder": job_dir, "config": job_dir / ".hydra" / "config.yaml",
                  "tensorboard": job_dir / "tensorboard", "csv": job_dir / "csv" / "metrics.csv",
                  "log": next(iter(sorted(job_dir.glob("*.log"))), job_dir / "train.log")}
    figures = job_dir / "figures"
    for png in sorted(figures.glob("*.png")) if figures.is_dir() else []:
        candidates[png.stem] = png
    return {name: path for name, path in candidates.items() if path.exists()}


def split_override(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def collect_runs(multirun_dir: str | Path | Sequence[Path], seed_keys: tuple[str, ...] = ("seed",),
                 fold_keys: tuple[str, ...] = ("data.split.fold",)
                 ) -> tuple[pd.DataFrame, list[str]]:
    """All jobs of a sweep (or of several sweep or run folders) as a DataFrame, and the
    overrides every job shared.

    ``label`` is a run's overrides that differ between jobs, without the seed and the fold (so
    the seeds and folds of one configuration share a label and are aggregated); ``seed`` is the
    seed override's value, ``fold`` the fold override's (empty when not swept).
    """
    folders = [multirun_dir] if isinstance(multirun_dir, str | Path) else list(multirun_dir)
    rows = [read_job(d, read_sweep_info(folder).get("sweep_id"))
            for folder in folders for d in job_dirs(folder)]
    if not rows:
        return pd.DataFrame(columns=["job", "dir", "overrides", "status", "error", "label",
                                     "seed", "fold"]), []
    per_job = [dict(split_override(o) for o in row["overrides"]) for row in rows]
    keys = list(dict.fromkeys(k for job in per_job for k in job))
    varying = [k for k in keys if len({job.get(k) for job in per_job}) > 1]
    common = [f"{k}={per_job[0][k]}" for k in keys if k not in varying]
    for row, job in zip(rows, per_job, strict=True):
        row["label"] = " ".join(f"{k}={job[k]}" for k in varying
                                if k in job and k not in (*seed_keys, *fold_keys)
                                ) or "(all runs)"
        row["fold"] = next((job[k] for k in fold_keys if k in job), "")
        row["seed"] = next((job[k] for k in seed_keys if k in job), None)
        if row["seed"] is None:  # not overridden: the seed the job's config had
            row["seed"] = _config_seed(Path(row["dir"]))
    return pd.DataFrame(rows), common
