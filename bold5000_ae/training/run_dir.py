"""A run folder belongs to one run: one writer at a time, resumes checked before anything is
written, a history that survives resumption, finished sweep jobs left alone.

Why a Hydra callback as well as a call from ``train``: Hydra writes ``.hydra/config.yaml`` and
opens the log file before the task function runs, so a resume refused inside ``train`` had
already overwritten the config of the run it refused to touch. :class:`RunDirGuard` runs the same
checks in ``on_run_start``, before Hydra writes anything into the folder. In a multirun each
job's folder is only known inside the job, so there ``train`` does the checks, after Hydra has
overwritten that job's ``.hydra/`` with the new config. Hence ``.hydra.claimed/``: a copy of
``.hydra/`` taken when a run claims its folder. Checks compare against it (the saved config of
the run that trained there, whatever Hydra wrote since), and a refused job gets it back.

Why our own CSV logger: Lightning's ``CSVLogger`` deletes ``metrics.csv`` when its folder is not
empty, so a resumed run (or a sweep rerun) lost its whole history. :class:`AppendingCSVLogger`
keeps the rows logged before the checkpoint and appends after them.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment
from omegaconf import DictConfig, OmegaConf

from bold5000_ae.training.checkpoint_io import load_state_dict, resolve_ckpt_path
from bold5000_ae.utils.config_checks import check_train_config
from bold5000_ae.utils.errors import InputError, ReportedError
from bold5000_ae.utils.locks import acquire

# what must not change between a run and its resumption (unresolved config, as Hydra saved it)
RESUME_KEYS = ("model._target_", "model.net", "data.path", "data.split")
# .hydra/ as the run that trained in the folder saw it (see the module docstring)
CLAIMED = ".hydra.claimed"


def _raw(cfg: DictConfig, key: str) -> Any:
    """The value of ``key`` as written (interpolations unresolved), comparable with the saved
    ``.hydra/config.yaml`` whatever PROJECT_ROOT is now."""
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(node, DictConfig) or leaf not in node:
        return None
    value = node._get_node(leaf)
    if isinstance(value, DictConfig):
        return OmegaConf.to_container(value, resolve=False)
    return value._value() if hasattr(value, "_value") else value


def check_resume(cfg: DictConfig, out_dir: Path) -> str | None:
    """Which checkpoint the run starts from, after refusing a resume that would mix two runs:
    a checkpoint that does not load (truncated, corrupted) or a config whose model or data
    differ from those the run folder was trained with."""
    ckpt = resolve_ckpt_path(cfg.get("ckpt_path"), out_dir, bool(cfg.get("auto_resume", False)))
    if not ckpt:
        return None
    if ckpt == "last":  # Lightning's name for the run's own last.ckpt
        ckpt = str(out_dir / "checkpoints" / "last.ckpt")
    load_state_dict(ckpt)  # truncated, bit-flipped or pickled: refused here, one line
    if Path(ckpt).resolve().is_relative_to(out_dir.resolve()):
        same_run(cfg, out_dir, "resume")
    return ckpt


def same_run(cfg: DictConfig, out_dir: Path, what: str) -> None:
    """Refuse when the model or data differ from those in the folder's saved config."""
    saved = out_dir / CLAIMED / "config.yaml"
    if not saved.is_file():  # a folder from before the snapshot existed
        saved = out_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        return
    before = OmegaConf.create(yaml.safe_load(saved.read_text()) or {})
    for key in RESUME_KEYS:
        old, new = _raw(before, key), _raw(cfg, key)
        if old is not None and old != new:
            raise InputError(out_dir, f"cannot {what}: {key} was {old!r} in this run, now "
                                      f"{new!r}; use the run's own config or a new run folder")


def finished_metrics(cfg: DictConfig, out_dir: Path) -> dict[str, float] | None:
    """With ``auto_resume=true``, the metrics of a run that already finished (a sweep rerun
    skips it instead of training it again); None when it has to run."""
    done = out_dir / "metrics.json"
    if not cfg.get("auto_resume", False) or not done.is_file():
        return None
    metrics = json.loads(done.read_text())
    if metrics.get("status", "finished") != "finished":
        return None
    same_run(cfg, out_dir, "skip a finished run")
    print(f"{out_dir}: already finished (metrics.json); skipped. Remove metrics.json to train "
          "it again.")
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _rank() -> int:
    """This process's global rank as launchers set it (0 when not distributed)."""
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID"):
        if os.environ.get(name, "0").isdigit() and int(os.environ.get(name, "0")) != 0:
            return int(os.environ[name])
    return 0


def claim_run_dir(cfg: DictConfig, out_dir: str | Path) -> dict[str, float] | None:
    """Lock the run folder, refuse a bad resume, and return the stored metrics when the run is
    already finished and ``auto_resume`` asks to skip it."""
    out_dir = Path(out_dir)
    check_train_config(cfg)
    if _rank() != 0:  # DDP children re-run the entry point: rank 0 holds the lock and checked
        return None
    acquire(out_dir, "run folder", inside=True)
    try:
        done = finished_metrics(cfg, out_dir)
        if done is None:
            check_resume(cfg, out_dir)
    except ReportedError:
        _restore_claimed(out_dir)  # a multirun job: Hydra already wrote the refused config
        raise
    if done is None and (out_dir / ".hydra").is_dir():  # this run owns the folder now
        shutil.rmtree(out_dir / CLAIMED, ignore_errors=True)
        shutil.copytree(out_dir / ".hydra", out_dir / CLAIMED)
    return done


def _restore_claimed(out_dir: Path) -> None:
    """In a multirun, put back the ``.hydra/`` that Hydra overwrote before the job was refused
    (a single run is refused before Hydra writes anything)."""
    claimed = out_dir / CLAIMED
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun and claimed.is_dir():
        shutil.copytree(claimed, out_dir / ".hydra", dirs_exist_ok=True)


def writable_folder(folder: Path) -> None:
    """The nearest existing folder on ``folder``'s path is writable, or one line naming it."""
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(parent, f"permission denied: cannot create the run folder {folder} "
                                 "(set PROJECT_ROOT or hydra.run.dir to a writable place)")


class RunDirGuard(Callback):
    """Hydra callback: for a single run, before Hydra writes the folder's ``.hydra/`` and log
    file, the run folder must be creatable (every command) and :func:`claim_run_dir`'s checks
    pass (training)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)
        out_dir = Path(str(OmegaConf.select(config, "hydra.run.dir"))).absolute()
        try:
            writable_folder(out_dir)  # every command: Hydra would otherwise crash creating it
            finished = None
            if "auto_resume" in config or "ckpt_path" in config:
                finished = claim_run_dir(config, out_dir)
        except ReportedError as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        if finished is not None:  # auto_resume on a finished run: nothing to do, nothing written
            raise SystemExit(0)


class _AppendingWriter(ExperimentWriter):
    """Keeps an existing ``metrics.csv``; on the first save drops the rows at or after the first
    new step (logged after the checkpoint the run resumed from) and appends."""

    def __init__(self, log_dir: str) -> None:
        self._trim = False
        super().__init__(log_dir)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as handle:
                self.metrics_keys = sorted(csv.DictReader(handle).fieldnames or [])
            self._trim = True

    def _check_log_dir_exists(self) -> None:
        """Lightning deletes metrics.csv here; the history is kept instead."""

    def save(self) -> None:
        if self._trim and self.metrics:
            first = min(m["step"] for m in self.metrics)
            with open(self.metrics_file_path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if _step(r) < first]
            self._record_new_keys()
            with open(self.metrics_file_path, "w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            self._trim = False
        super().save()


def _step(row: Mapping[str, str]) -> float:
    try:
        return float(row.get("step") or 0)
    except ValueError:
        return 0.0


class AppendingCSVLogger(CSVLogger):
    """Lightning's CSVLogger whose ``metrics.csv`` survives a resume (see the module docstring)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def run_status(trainer: Any) -> dict[str, Any]:
    """``status`` for metrics.json: ``untrained`` when no optimizer step ran
    (``trainer.max_epochs=0``, an empty split), so its numbers are never read as a trained
    model's; ``finished`` otherwise."""
    steps = int(trainer.global_step)
    return {"status": "finished" if steps > 0 else "untrained", "trained_steps": steps}
