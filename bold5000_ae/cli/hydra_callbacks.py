"""Hydra callbacks and a task-function wrapper that make multiruns safe to leave running.

- ``record_failures``: Hydra's basic sweeper re-raises the first failed job's exception after the
  batch, so ``on_multirun_end`` (and the report) never runs, and a ``SystemExit`` from a bad input
  ends the sweep at once. In a multirun the wrapper writes ``failed.json`` in the job folder and
  returns NaN (Optuna records a failed trial); a single run still raises and exits non-zero.
- ``MultirunReport``: writes the comparison report when a sweep ends, and makes the folder of a
  SQLite Optuna storage before the sweeper opens it.
- ``WandbFinish``: ``wandb.finish()`` after every job, so the next job gets its own run.
- ``SweepProgress``: a Rich rule per job, ``job k/N · overrides``, and its outcome and time.
- ``PinDdpChildren``: Lightning's ``strategy=ddp`` re-runs ``sys.argv`` for ranks > 0; in a
  multirun that argv is the whole sweep. It narrows argv to this job's overrides and pins the
  child's run folder to the job's folder; after the job it closes rank 0's process group and
  clears the DDP variables Lightning exported, so the next job launches its own ranks.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, open_dict, read_write

from bold5000_ae.utils.optuna_storage import storage_file

log = logging.getLogger(__name__)
FAILED_FILE = "failed.json"


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _root_cause(exc: BaseException) -> BaseException:
    """A ``SystemExit`` from cli.reports_input_errors hides the InputError in ``__context__``."""
    while isinstance(exc, SystemExit) and exc.__context__ is not None:
        exc = exc.__context__
    return exc


def write_failure(job_dir: Path, exc: BaseException) -> Path:
    cause = _root_cause(exc)
    record = {"error": f"{type(cause).__name__}: {cause}",
              "traceback": "".join(traceback.format_exception(cause)),
              "overrides": list(HydraConfig.get().overrides.task) if HydraConfig.initialized()
              else []}
    job_dir.mkdir(parents=True, exist_ok=True)
    path = job_dir / FAILED_FILE
    path.write_text(json.dumps(record, indent=2))
    return path


def record_failures(task: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Wrap a Hydra task function: in a multirun a failing job is recorded, not raised."""

    @functools.wraps(task)
    def wrapper(cfg: DictConfig) -> Any:
        if in_multirun():  # a rerun of the sweep: this attempt's outcome replaces the last one's
            (Path(HydraConfig.get().runtime.output_dir) / FAILED_FILE).unlink(missing_ok=True)
        try:
            result = task(cfg)
        except (Exception, SystemExit) as exc:
            if not in_multirun():
                raise
            path = write_failure(Path(HydraConfig.get().runtime.output_dir), exc)
            log.error("job %s failed (%s): %s", HydraConfig.get().job.num, path,
                      _root_cause(exc))
            return None
        if in_multirun() and isinstance(result, float) and math.isnan(result):
            log.warning("job %s: objective is NaN; reported to the sweeper as a failed trial",
                        HydraConfig.get().job.num)
            return None
        return result

    return wrapper


class MultirunReport(Callback):
    """Write ``<sweep dir>/report`` when a multirun ends; never let the report fail the sweep."""

    def __init__(self, enabled: bool = True, rank_by: str | None = None,
                 metrics: list[str] | None = None) -> None:
        self.enabled, self.rank_by, self.metrics = enabled, rank_by, metrics

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        storage = config.hydra.sweeper.get("storage")
        if isinstance(storage, str) and (path := storage_file(storage)) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        write_sweep_info(config, sweep_id=uuid.uuid4().hex)  # this sweep's id, for its jobs

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Stamp the job folder with the id of the sweep that launched it: job folders an
        earlier sweep into the same folder left behind are then told apart (never ranked)."""
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        from bold5000_ae.report.collect import JOB_SWEEP_FILE, read_sweep_info

        sweep_id = read_sweep_info(config.hydra.sweep.dir).get("sweep_id")
        if sweep_id:
            job_dir = Path(config.hydra.runtime.output_dir)
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / JOB_SWEEP_FILE).write_text(f"{sweep_id}\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return exit_if_jobs_failed(config.hydra.sweep.dir)
        from bold5000_ae.report import ReportSettings, build_report

        try:
            write_sweep_info(config)
            settings = ReportSettings.load(rank_by=self.rank_by,
                                           metrics=list(self.metrics) if self.metrics else None)
            report = build_report(config.hydra.sweep.dir, settings)
            log.info("report: %d jobs (%d failed%s) → %s", report.n_runs, report.n_failed,
                     report.notes, report.files["report.html"])
        except Exception as exc:  # noqa: BLE001 - the sweep's results stand without a report
            log.error("report not written: %s: %s (rerun: bold5000-ae-report %s)",
                      type(exc).__name__, exc, config.hydra.sweep.dir)
        exit_if_jobs_failed(config.hydra.sweep.dir)


def exit_if_jobs_failed(sweep_dir: str | Path) -> None:
    """After the report: a sweep with a failed job exits 1, so scripts and CI notice."""
    failed = sorted(Path(sweep_dir).glob(f"*/{FAILED_FILE}"))
    if failed:
        log.error("%d job(s) failed: %s", len(failed), ", ".join(p.parent.name for p in failed))
        raise SystemExit(1)


def write_sweep_info(config: DictConfig, sweep_id: str | None = None) -> Path:
    """``<sweep dir>/sweep.json``: the objective, its direction and, for Optuna, the study's
    storage and name, resolved here (inside Hydra) so ``bold5000-ae-report`` can find the
    study later from the folder alone; and the id of the latest sweep into the folder (kept
    when ``sweep_id`` is None)."""
    from bold5000_ae.report.collect import SWEEP_FILE, read_sweep_info
    from bold5000_ae.utils.optuna_storage import family_name

    sweeper = config.hydra.sweeper
    target = str(sweeper.get("_target_", ""))
    direction = sweeper.get("direction")
    objective = config.get("optimized_metric")
    info = {"sweeper": "optuna" if "optuna" in target.lower() else "basic",
            # several objectives: lists, the first one ranks the report
            "objective": list(objective) if isinstance(objective, ListConfig) else objective,
            "direction": [str(d).lower() for d in direction] if isinstance(
                direction, ListConfig) else str(direction).lower() if direction else None,
            "storage": str(sweeper.get("storage")) if sweeper.get("storage") else None,
            "study_name": sweeper.get("study_name"),
            # an equal-budget comparison: one study per family
            "study_names": [".".join(filter(None, [sweeper.get("study_name"),
                                                   family_name(str(f))]))
                            for f in sweeper.get("families") or ()] or None,
            "sweep_id": sweep_id or read_sweep_info(config.hydra.sweep.dir).get("sweep_id")}
    path = Path(config.hydra.sweep.dir) / SWEEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2))
    return path


class WandbFinish(Callback):
    """Close the job's wandb run (if any) so each job of a sweep is its own run."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        wandb = sys.modules.get("wandb")
        if wandb is not None and getattr(wandb, "run", None) is not None:
            wandb.finish(exit_code=0 if job_return.status.name == "COMPLETED" else 1)


def count_jobs(config: DictConfig) -> int | None:
    """Jobs in the sweep: the product of the sweep overrides' lengths (basic sweeper), or
    ``n_trials`` (Optuna; per family, plus the retrained runs, in an equal-budget comparison);
    None when it cannot be known up front."""
    sweeper = config.hydra.sweeper
    if sweeper.get("n_trials") is not None:
        families = len(sweeper.get("families") or ())
        if not families:
            return int(sweeper.n_trials)
        retrain = len(sweeper.get("retrain_seeds") or ()) * max(
            1, len(sweeper.get("retrain_folds") or ()))
        return families * (int(sweeper.n_trials) + retrain)
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items()]
    try:
        parsed = OverridesParser.create().parse_overrides([*params,
                                                           *config.hydra.overrides.task])
    except Exception:  # noqa: BLE001 - a count is a nicety
        return None
    sizes: dict[str, int] = {}
    for override in parsed:  # a command-line override replaces the config's for the same key
        sizes[override.key_or_group] = (len(list(override.sweep_iterator()))
                                        if override.is_sweep_override() else 1)
    return math.prod(sizes.values())


class SweepProgress(Callback):
    """Where a sweep is: Lightning's Rich bar shows one job's epochs, this shows the jobs."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.started = 0.0

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.total = count_jobs(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        from rich.console import Console

        self.started = time.monotonic()
        of = f"/{self.total}" if self.total else ""
        Console(stderr=True).rule(f"job {config.hydra.job.num + 1}{of} · "
                                  f"{' '.join(config.hydra.overrides.task)}")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        from rich.console import Console

        failed = (Path(config.hydra.runtime.output_dir) / FAILED_FILE).exists() or (
            job_return.status.name != "COMPLETED")
        Console(stderr=True).print(
            f"job {config.hydra.job.num + 1} {'[red]failed' if failed else '[green]done'}"
            f"[/] in {time.monotonic() - self.started:.0f} s")


_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
_CONFIG_FLAGS = ("-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir")


def _config_flags(argv: list[str]) -> list[str]:
    """The flags that choose the primary config, kept so a child composes the same config."""
    kept: list[str] = []
    for i, arg in enumerate(argv):
        if arg in _CONFIG_FLAGS and i + 1 < len(argv):
            kept += [arg, argv[i + 1]]
        elif arg.split("=", 1)[0] in _CONFIG_FLAGS and "=" in arg:
            kept.append(arg)
    return kept


class PinDdpChildren(Callback):
    """In a multirun, make Lightning's DDP child processes re-run this job and only this job."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        self._argv = list(sys.argv)
        self._env = {k: os.environ.get(k) for k in _DDP_ENV}
        sys.argv = [sys.argv[0], *_config_flags(sys.argv[1:]), *config.hydra.overrides.task,
                    "hydra.mode=RUN"]
        hydra_cfg = HydraConfig.instance().cfg
        with read_write(hydra_cfg.hydra.run), open_dict(hydra_cfg.hydra.run):
            hydra_cfg.hydra.run.dir = hydra_cfg.hydra.runtime.output_dir

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if getattr(self, "_argv", None) is None:
            return
        sys.argv, self._argv = self._argv, None
        # Lightning's launcher exports LOCAL_RANK & co. in rank 0's own environment; left there,
        # the next job would think an outside launcher started its processes and wait forever.
        for key, value in self._env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        # Lightning leaves rank 0's process group open; the next job of this process would
        # otherwise reuse it, talking to the previous job's exited children.
        distributed = sys.modules.get("torch.distributed")
        if distributed is not None and distributed.is_available() and distributed.is_initialized():
            distributed.destroy_process_group()
