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

Nothing here imports torch or Lightning (a checkpoint is read only when there is one to check),
so a refused run answers before those imports.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from bold5000_ae.training.data_identity import check_identity, record_identity
from bold5000_ae.training.resume_config import refuse_changed_config
from bold5000_ae.training.resume_path import resolve_ckpt_path
from bold5000_ae.utils.atomic_io import disk_error
from bold5000_ae.utils.config_checks import check_train_config
from bold5000_ae.utils.errors import InputError, ReportedError
from bold5000_ae.utils.locks import acquire, release

__all__ = ["RunDirGuard", "claim_run_dir", "run_status"]

# .hydra/ as the run that trained in the folder saw it (see the module docstring)
CLAIMED = ".hydra.claimed"
# what each resume asked for (its own .hydra/), kept beside the run's recorded config
RESUMES = ".hydra.resumes"
# what a run leaves behind: a folder holding one of these belongs to that run
RESULTS = ("metrics.json", "status.json", "csv/metrics.csv", "checkpoints/*.ckpt",
           "pretrain/checkpoints/*.ckpt")


# below this, Hydra's config files and log would fail with a traceback before any task code
MIN_FREE_BYTES = 2**20


def check_resume(cfg: DictConfig, out_dir: Path) -> str | None:
    """Which checkpoint the run starts from, after refusing a resume that would mix two runs:
    a checkpoint that does not load (truncated, corrupted), a config whose data, loss or model
    differ from those the run folder was trained with, or a data file whose content changed."""
    ckpt = resolve_ckpt_path(cfg.get("ckpt_path"), out_dir, bool(cfg.get("auto_resume", False)))
    if not ckpt:
        return None
    if ckpt == "last":  # Lightning's name for the run's own last.ckpt
        ckpt = str(out_dir / "checkpoints" / "last.ckpt")
    from bold5000_ae.training.checkpoint_io import load_state_dict  # torch: only to resume

    load_state_dict(ckpt)  # truncated, bit-flipped or pickled: refused here, one line
    if Path(ckpt).resolve().is_relative_to(out_dir.resolve()):
        same_run(cfg, out_dir, "resume")
        path = OmegaConf.select(cfg, "data.path", default=None,
                                throw_on_resolution_failure=False)
        if isinstance(path, str) and Path(path).is_file():
            check_identity(out_dir, path, "resume")
    return ckpt


def saved_config(out_dir: Path) -> Path | None:
    """The config the run in ``out_dir`` trained with: ``.hydra.claimed/`` (whatever Hydra wrote
    into ``.hydra/`` since), else ``.hydra/``; None for a folder no run has claimed."""
    for folder in (CLAIMED, ".hydra"):
        if (out_dir / folder / "config.yaml").is_file():
            return out_dir / folder / "config.yaml"
    return None


def same_run(cfg: DictConfig, out_dir: Path, what: str) -> None:
    """Refuse when data, loss, regularizers or model differ from the folder's saved config."""
    saved = saved_config(out_dir)
    if saved is not None:
        refuse_changed_config(saved, cfg, out_dir, what)


def foreign_results(out_dir: Path) -> list[str]:
    """The results another run left in ``out_dir`` (empty for a fresh folder)."""
    return [pattern for pattern in RESULTS if any(out_dir.glob(pattern))]


def refuse_foreign_results(out_dir: Path) -> None:
    """A new (non-resume) run never writes into a folder holding another run's results."""
    found = foreign_results(out_dir)
    if not found:
        return
    fresh = ("rerun the sweep with auto_resume=true (finished jobs are skipped, killed ones "
             "resume), or sweep into a new folder: leave hydra.sweep.dir unset (a new dated "
             "folder) or give another one" if _multirun() else
             "resume it with ckpt_path=last (or auto_resume=true), or train into a new folder: "
             "leave hydra.run.dir unset (a new dated folder) or give another one")
    raise InputError(out_dir, f"holds another run's results ({', '.join(found)}); {fresh}. "
                              "Nothing of that run was changed")


def finished_metrics(cfg: DictConfig, out_dir: Path) -> dict[str, float] | None:
    """With ``auto_resume=true``, the metrics of a run that already finished (a sweep rerun
    skips it instead of training it again); None when it has to run."""
    done = out_dir / "metrics.json"
    if not cfg.get("auto_resume", False) or not done.is_file():
        return None
    try:
        metrics = json.loads(done.read_text())
    except (OSError, ValueError):
        raise InputError(done, "unreadable; remove it to train this run again") from None
    if not isinstance(metrics, dict) or metrics.get("status", "finished") != "finished":
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


def _lock(out_dir: Path) -> None:
    try:
        acquire(out_dir, "run folder", inside=True)
    except OSError as exc:  # a full disk while writing the lock file's PID
        raise InputError(out_dir, f"cannot lock the run folder: {disk_error(exc) or exc}"
                         ) from None


def claim_run_dir(cfg: DictConfig, out_dir: str | Path, starting: bool = True
                  ) -> dict[str, float] | None:
    """Lock the run folder, refuse a bad resume or a new run into another run's folder, and
    return the stored metrics when the run is already finished and ``auto_resume`` asks to skip
    it. A refused single run leaves no folder behind that it created. ``starting``: the task
    itself (not RunDirGuard's earlier check), which records the config and data identity."""
    out_dir = Path(out_dir)
    if _rank() != 0:  # DDP children re-run the entry point: rank 0 holds the lock and checked
        return None
    existed = out_dir.exists()
    _lock(out_dir)
    resume = False  # continues a checkpoint of this folder (one from elsewhere starts a run)
    try:
        done = finished_metrics(cfg, out_dir)
        if done is None:
            ckpt = check_resume(cfg, out_dir)
            resume = bool(ckpt) and Path(str(ckpt)).resolve().is_relative_to(out_dir.resolve())
            if not resume:
                refuse_foreign_results(out_dir)
    except ReportedError:
        _restore_claimed(out_dir)  # a multirun job: Hydra already wrote the refused config
        if not existed:
            _remove_created(out_dir)
        raise
    if done is not None:  # a skipped sweep job: Hydra rewrote its .hydra/, put the record back
        _restore_claimed(out_dir)
    if not starting or done is not None:
        return done
    if not resume:  # a new run: its config and data are the folder's record from now on
        if (out_dir / ".hydra").is_dir():
            shutil.rmtree(out_dir / CLAIMED, ignore_errors=True)
            shutil.copytree(out_dir / ".hydra", out_dir / CLAIMED)
        if _data_file(cfg):
            record_identity(out_dir, str(_data_file(cfg)))
    elif _multirun() and (out_dir / CLAIMED).is_dir():
        _keep_recorded_config(out_dir)
    return done


def resumes_here(cfg: DictConfig, out_dir: Path) -> bool:
    """The run continues from a checkpoint of its own folder (not a fine-tune of another's)."""
    ckpt = resolve_ckpt_path(cfg.get("ckpt_path"), out_dir, bool(cfg.get("auto_resume", False)))
    return ckpt == "last" or bool(ckpt and Path(ckpt).resolve().is_relative_to(
        out_dir.resolve()))


def _data_file(cfg: DictConfig) -> str | None:
    path = OmegaConf.select(cfg, "data.path", default=None, throw_on_resolution_failure=False)
    return path if isinstance(path, str) and Path(path).is_file() else None


def _multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _remove_created(out_dir: Path) -> None:
    """A refused run leaves no folder: only the lock file it made is removed with it."""
    release(out_dir, inside=True)
    if out_dir.is_dir() and {p.name for p in out_dir.iterdir()} <= {".lock"}:
        shutil.rmtree(out_dir, ignore_errors=True)


def _keep_recorded_config(out_dir: Path) -> None:
    """A resumed multirun job: Hydra rewrote ``.hydra/`` with this attempt's config. That copy
    goes to ``.hydra.resumes/<time>/`` and the run's recorded config comes back."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    shutil.copytree(out_dir / ".hydra", out_dir / RESUMES / stamp, dirs_exist_ok=True)
    shutil.copytree(out_dir / CLAIMED, out_dir / ".hydra", dirs_exist_ok=True)


def _restore_claimed(out_dir: Path) -> None:
    """In a multirun, put back the ``.hydra/`` that Hydra overwrote before the job was refused
    (a single run is refused before Hydra writes anything)."""
    claimed = out_dir / CLAIMED
    if _multirun() and claimed.is_dir():
        shutil.copytree(claimed, out_dir / ".hydra", dirs_exist_ok=True)


def writable_folder(folder: Path) -> None:
    """The nearest existing folder on ``folder``'s path is writable, or one line naming it."""
    parent = folder
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(parent, f"permission denied: cannot create the run folder {folder} "
                                 "(set PROJECT_ROOT or hydra.run.dir to a writable place)")
    if shutil.disk_usage(parent).free < MIN_FREE_BYTES:  # Hydra's own writes come first
        raise InputError(parent, f"no space left on device: {shutil.disk_usage(parent).free} "
                                 f"bytes free, nothing can be written to the run folder {folder}")


class RunDirGuard(Callback):
    """Hydra callback: for a single run, before Hydra writes the folder's ``.hydra/`` and log
    file, the run folder must be creatable (every command), and for training the config's
    values and :func:`claim_run_dir`'s checks pass. A resume's own ``.hydra/`` goes to
    ``.hydra.resumes/<time>/``, so the run's recorded config stays what the run trained with."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)
        out_dir = Path(str(OmegaConf.select(config, "hydra.run.dir"))).absolute()
        try:
            writable_folder(out_dir)  # every command: Hydra would otherwise crash creating it
            finished = None
            if "auto_resume" in config or "ckpt_path" in config:  # a training run
                check_train_config(config)
                finished = claim_run_dir(config, out_dir, starting=False)
                if finished is None and resumes_here(config, out_dir):
                    with read_write(config.hydra), open_dict(config.hydra):
                        config.hydra.output_subdir = (
                            f"{RESUMES}/{time.strftime('%Y-%m-%d_%H-%M-%S')}")
        except ReportedError as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(exc.exit_code) from None
        if finished is not None:  # auto_resume on a finished run: nothing to do, nothing written
            raise SystemExit(0)


def run_status(trainer: Any) -> dict[str, Any]:
    """``status`` for metrics.json: ``untrained`` when no optimizer step ran
    (``trainer.max_epochs=0``, an empty split), so its numbers are never read as a trained
    model's; ``finished`` otherwise."""
    steps = int(trainer.global_step)
    return {"status": "finished" if steps > 0 else "untrained", "trained_steps": steps}
