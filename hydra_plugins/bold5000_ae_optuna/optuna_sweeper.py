"""A Hydra sweeper over Optuna's ask/tell API (conf/hydra/sweeper/optuna.yaml configures it).

Hydra finds it by scanning the ``hydra_plugins`` namespace package; this module stays light
(Hydra imports it on every start) and loads Optuna only when a search runs (``_impl.py``).
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Each batch: ask ``n_jobs`` trials of the stored study, launch them as Hydra jobs with
    the configured launcher, tell each trial its outcome (COMPLETE, PRUNED or FAIL).

    ``sampler`` and ``pruner`` are ``_target_`` configs, built here (the sampler's seed moves
    on with the study; the pruner is built again in each job, from the job's own config).

    ``families`` (a list of overrides, e.g. ``[model/net=conv3d, model/net=mlp]``): an
    equal-budget comparison. Each family is searched with ``n_trials`` trials in its own study
    (``<study_name>.<values>``, e.g. ``families.mlp``); then each family's best is
    retrained once per seed of ``retrain_seeds`` (and fold of ``retrain_folds``), tested, and
    ranked with a confidence interval in ``<sweep dir>/retrain/report``.

    ``first_trials`` (a list of ``{parameter: value}``): tried first in every study, before
    the sampler draws, e.g. the defaults.
    """

    def __init__(self, sampler: DictConfig | None = None, pruner: DictConfig | None = None,
                 direction: Any = "minimize", storage: str | None = None,
                 study_name: str | None = None, n_trials: int = 20, n_jobs: int = 1,
                 max_failure_rate: float = 1.0, params: DictConfig | None = None,
                 families: Any = None, retrain_seeds: Any = (),
                 retrain_folds: Any = (), first_trials: Any = ()) -> None:
        from ._impl import OptunaSweeperImpl

        self.sweeper = OptunaSweeperImpl(sampler, pruner, direction, storage, study_name,
                                         n_trials, n_jobs, max_failure_rate, params, families,
                                         retrain_seeds, retrain_folds, first_trials)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function,
                           config=config)

    def sweep(self, arguments: list[str]) -> None:
        return self.sweeper.sweep(arguments)
