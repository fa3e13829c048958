"""The Optuna sweeper's work: the study and the ask → launch → tell loop, one batch of
``n_jobs`` trials at a time (the search space from Hydra's sweep syntax: ``_search_space.py``).

Hydra imports every public module under ``hydra_plugins`` on each start; this one starts with
an underscore, so Optuna is imported only when a search runs.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
)
from optuna.trial import TrialState

from bold5000_ae.utils.atomic_io import pid_alive
from bold5000_ae.utils.optuna_storage import family_name, open_storage
from hydra_plugins.bold5000_ae_optuna._search_space import grid, search_space, suggest

log = logging.getLogger(__name__)

# the environment variable through which a trial's job learns its trial number (set with
# hydra.job.env_set, so it reaches the job in whatever process a launcher runs it)
TRIAL_ENV = "OPTUNA_TRIAL_NUMBER"
STUDY_ENV = "OPTUNA_STUDY_NAME"
# user attributes the sweeper and the pruning callback write on a trial
PRUNED_ATTR = "pruned_at_epoch"
WORKER_ATTR = "worker"


def directions(direction: Any) -> list[str]:
    if isinstance(direction, Sequence | ListConfig) and not isinstance(direction, str):
        return [str(d) for d in direction]
    return [str(direction)]


def objective_values(value: Any, n: int) -> list[float] | None:
    """The job's return value as ``n`` finite floats, or None (the trial failed)."""
    values = list(value) if isinstance(value, Sequence | ListConfig) and not isinstance(
        value, str) else [value]
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if len(floats) != n or any(math.isnan(v) for v in floats):
        return None
    return floats


def this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def fail_orphans(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a sweeper on this host that is gone (killed, interrupted): no
    one will ever tell them, so they are recorded FAIL. A RUNNING trial of a live sweeper, or
    of another host, is left alone."""
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get(WORKER_ATTR, ""))
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit() and not pid_alive(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            failed.append(trial.number)
    if failed:
        log.warning("trials %s were left running by an interrupted search; recorded as FAIL",
                    failed)
    return failed


class OptunaSweeperImpl:
    def __init__(self, sampler: DictConfig | None, pruner: DictConfig | None, direction: Any,
                 storage: str | None, study_name: str | None, n_trials: int, n_jobs: int,
                 max_failure_rate: float, params: DictConfig | None,
                 families: Sequence[str] | None = None, retrain_seeds: Sequence[int] = (),
                 retrain_folds: Sequence[int] = (),
                 first_trials: Sequence[Mapping[str, Any]] = ()) -> None:
        if not 0.0 <= float(max_failure_rate) <= 1.0:
            raise ValueError(f"max_failure_rate must lie in [0, 1], not {max_failure_rate}")
        self.sampler_cfg = sampler
        self.pruner_cfg = pruner
        self.directions = directions(direction)
        self.storage = str(storage) if storage else None
        self.study_name = study_name
        self.n_trials = int(n_trials)
        self.n_jobs = max(1, int(n_jobs))
        self.max_failure_rate = float(max_failure_rate)
        self.params = params
        # each family (one or more space-separated overrides) searched with n_trials trials in
        # its own study, named by the overrides' values: "model/net=mlp" → "mlp"
        self.families = {family_name(str(f)): str(f).split() for f in families or ()}
        self.retrain_seeds = [int(x) for x in retrain_seeds or ()]
        self.retrain_folds = [int(x) for x in retrain_folds or ()]
        # parameter sets every study tries first (e.g. the defaults, so that a small budget
        # cannot end below them); they count towards n_trials
        self.first_trials = [
            OmegaConf.to_container(t, resolve=True) if isinstance(t, DictConfig) else dict(t)
            for t in first_trials or ()]
        if self.families and len(self.directions) > 1:
            raise ValueError("families: one objective only (each family's best is retrained)")
        self.job_idx = 0

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function)
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    def make_sampler(self, seed_offset: int,
                     distributions: Mapping[str, BaseDistribution]) -> optuna.samplers.BaseSampler:
        """The configured sampler, its seed (when it has one) moved on by ``seed_offset``: a
        rerun, or another worker on the study, draws new points instead of replaying these."""
        if self.sampler_cfg is None:
            return optuna.samplers.TPESampler()
        cfg = OmegaConf.to_container(self.sampler_cfg, resolve=True)
        assert isinstance(cfg, dict)
        if cfg.get("seed") is not None:
            cfg["seed"] = int(cfg["seed"]) + seed_offset
        if str(cfg.get("_target_", "")).endswith("GridSampler"):
            cfg["search_space"] = grid(distributions)
        return instantiate(cfg)

    def sweep(self, arguments: list[str]) -> None:
        params = [f"{k}={v}" for k, v in (self.params or {}).items()]
        distributions, fixed = search_space([*params, *arguments])
        unknown = sorted({k for first in self.first_trials for k in first}
                         - set(distributions) - set(fixed))
        if unknown:
            raise ValueError(f"first_trials: {unknown} are not searched parameters "
                             f"(searched: {sorted(distributions)})")
        # a parameter the command line fixed is not searched: first trials give it no value
        self.first_trials = [{k: v for k, v in first.items() if k in distributions}
                             for first in self.first_trials]
        log.info("search space: %s; fixed: %s", distributions, fixed)
        if not self.families:
            self.save_results(self.search(self.study_name, distributions, fixed))
            return
        best = {}
        for family, overrides in self.families.items():
            # each family its own study (its sampler learns from its own trials only), the
            # same number of trials each: an equal budget
            name = f"{self.study_name}.{family}" if self.study_name else family
            family_fixed = {**fixed, **search_space(overrides)[1]}
            study = self.search(name, distributions, family_fixed)
            complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if complete:
                best[family] = {**family_fixed, **study.best_trial.params}
            else:
                log.warning("family %s: no complete trial, nothing to retrain", family)
        if self.retrain_seeds:
            self.retrain(best)

    def search(self, study_name: str | None, distributions: Mapping[str, BaseDistribution],
               fixed: Mapping[str, str]) -> optuna.Study:
        """Add ``n_trials`` trials to the study, ``n_jobs`` at a time."""
        storage = open_storage(self.storage) if self.storage else None
        pruner = instantiate(self.pruner_cfg) if self.pruner_cfg is not None else None
        study = optuna.create_study(
            study_name=study_name, storage=storage, directions=self.directions,
            sampler=self.make_sampler(0, distributions),
            pruner=pruner or optuna.pruners.NopPruner(), load_if_exists=True)
        fail_orphans(study)
        log.info("Optuna study %r in %s: %d trials so far; %s, %s, directions %s",
                 study.study_name, self.storage or "memory", len(study.trials),
                 type(study.sampler).__name__, type(study.pruner).__name__, self.directions)
        for params in filter(None, self.first_trials):  # not again on a rerun of the study
            study.enqueue_trial(params, skip_if_exists=True)
        is_grid = isinstance(study.sampler, optuna.samplers.GridSampler)
        to_go, first = self.n_trials, True
        while to_go > 0:
            if is_grid and study.sampler.is_exhausted(study):
                log.info("the grid is exhausted: every point has a trial")
                break
            batch = min(to_go, self.n_jobs)
            trials = []
            for _ in range(batch):
                trial = study.ask()
                if first:  # seeded by the first trial number this invocation holds
                    study.sampler = self.make_sampler(trial.number, distributions)
                    first = False
                trial.set_user_attr(WORKER_ATTR, this_worker())
                trial.set_user_attr("sweep_dir", str(self.sweep_dir))
                trial.set_user_attr("job", self.job_idx + len(trials))
                for name, dist in distributions.items():
                    suggest(trial, name, dist)
                trials.append(trial)
            overrides = [self.job_overrides(trial, fixed, study_name) for trial in trials]
            returns = self.launcher.launch(overrides, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            failures = sum(self.tell(study, trial, ret) == TrialState.FAIL
                           for trial, ret in zip(trials, returns, strict=True))
            to_go -= batch
            if failures / len(returns) > self.max_failure_rate:
                raise RuntimeError(f"{failures} of {len(returns)} trials failed "
                                   f"(max_failure_rate={self.max_failure_rate})")
        return study

    def retrain(self, best: Mapping[str, Mapping[str, Any]]) -> None:
        """Each family's best parameters again, once per seed (and fold), tested, in
        ``<sweep dir>/retrain/<n>``; then that folder's report ranks the families with a
        confidence interval over seeds × folds, beside the baselines and ceilings."""
        folds = self.retrain_folds or [None]
        jobs = []
        for family, values in best.items():
            for fold in folds:
                for seed in self.retrain_seeds:
                    job = {"+family": family, **values, "seed": seed, "test": "true"}
                    if fold is not None:
                        job["data.split.fold"] = fold
                    jobs.append([*(f"{k}={v}" for k, v in job.items()),
                                 "hydra.sweep.subdir=retrain/${hydra.job.num}"])
        if not jobs:
            return
        log.info("retraining the best of %d families: %d jobs", len(best), len(jobs))
        for start in range(0, len(jobs), self.n_jobs):
            batch = jobs[start:start + self.n_jobs]
            self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(batch)
        from bold5000_ae.report import ReportSettings, build_report

        folder = self.sweep_dir / "retrain"
        try:
            report = build_report(folder, ReportSettings.load())
            log.info("families ranked: %s", report.files["report.html"])
        except Exception as exc:  # noqa: BLE001 - the runs stand without their report
            log.error("family report not written: %s (rerun: bold5000-ae-report %s)", exc,
                      folder)

    def job_overrides(self, trial: optuna.Trial, fixed: Mapping[str, str],
                      study_name: str | None) -> list[str]:
        """The job's command-line overrides: the trial's parameters, the fixed values, and the
        trial's study and number for the job's pruning callback (Hydra overrides, so they stay
        out of the job's own overrides, its folder name and the report's labels)."""
        values = {**dict(trial.params), **fixed}
        return [*(f"{k}={v}" for k, v in values.items()),
                f"++hydra.job.env_set.{TRIAL_ENV}={trial.number}",
                f"++hydra.job.env_set.{STUDY_ENV}='{study_name}'"]

    def tell(self, study: optuna.Study, trial: optuna.Trial, ret: Any) -> TrialState:
        """COMPLETE with the job's objective; PRUNED when the job's callback stopped it (it left
        ``pruned_at_epoch`` on the trial); FAIL when the job raised or returned no number."""
        attrs = study.get_trials(deepcopy=False)[trial.number].user_attrs  # as the job left it
        values = None
        if ret.status == JobStatus.COMPLETED:
            values = objective_values(ret.return_value, len(self.directions))
        if PRUNED_ATTR in attrs:
            state = TrialState.PRUNED
            values = None
        elif values is None:
            state = TrialState.FAIL
            log.warning("trial %d failed (%s)", trial.number, ret._return_value
                        if ret.status == JobStatus.FAILED else f"objective {ret._return_value!r}")
        else:
            state = TrialState.COMPLETE
        try:
            study.tell(trial, values, state=state, skip_if_finished=True)
        except RuntimeError as exc:  # the grid sampler's "stop": the trial is stored all the same
            if "Study.stop" not in str(exc):
                raise
        return state

    def save_results(self, study: optuna.Study) -> None:
        """``optimization_results.yaml`` in the sweep folder: the best trial (or the Pareto
        front) of the whole study so far."""
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            log.warning("no trial of study %r has completed yet", study.study_name)
            return
        if len(self.directions) == 1:
            best = study.best_trial
            results: dict[str, Any] = {"name": "optuna", "best_trial": best.number,
                                       "best_params": best.params, "best_value": best.value}
            log.info("best trial %d: %s = %s", best.number, best.params, best.value)
        else:
            results = {"name": "optuna", "solutions": [
                {"trial": t.number, "params": t.params, "values": t.values}
                for t in study.best_trials]}
            log.info("Pareto front: %d trials", len(study.best_trials))
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")
