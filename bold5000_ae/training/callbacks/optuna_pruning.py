"""Report a trial's validation metric to its Optuna study after every epoch; stop when pruned.

The trial is found through the study's storage (``sqlite:///…`` or ``journal:…``), its name and
the trial number the Optuna sweeper hands the job (``OPTUNA_TRIAL_NUMBER``, set through
``hydra.job.env_set``), so it works in whatever process a launcher runs the job: the sweeper's
own, a joblib worker, a SLURM node. The pruner is built from the same config the sweeper uses
(``hydra.sweeper.pruner``): it reads the other trials' reported values from the storage.

A pruned trial is not an error: the callback stops training cleanly at the end of the epoch,
marks the trial (user attribute ``pruned_at_epoch``, which the sweeper turns into the PRUNED
state) and the run records ``status: pruned`` in its metrics.json (listed, never ranked).

Outside a search (no trial number) and for several objectives (Optuna prunes one) it does
nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

log = logging.getLogger(__name__)
PRUNED_ATTR = "pruned_at_epoch"


class OptunaPruning(Callback):
    def __init__(self, monitor: Any, storage: str | None = None, study_name: str | None = None,
                 trial_number: int | str | None = None, pruner: Any = None) -> None:
        self.monitor = monitor if isinstance(monitor, str) else None
        self.storage, self.study_name, self.pruner = storage, study_name, pruner
        self.trial_number = None if trial_number in (None, "", "None", "null") else int(
            trial_number)
        self.pruned_at: int | None = None
        self._trial: Any = None

    @property
    def active(self) -> bool:
        return None not in (self.monitor, self.storage, self.study_name, self.trial_number)

    def trial(self) -> Any:
        """The running trial, opened once; None when the study has several objectives."""
        if self._trial is None:
            import optuna

            from bold5000_ae.utils.optuna_storage import open_storage

            study = optuna.load_study(study_name=self.study_name,
                                      storage=open_storage(str(self.storage), create=False),
                                      pruner=self.pruner,
                                      sampler=optuna.samplers.RandomSampler())
            if len(study.directions) > 1:
                log.info("pruning: study %s has %d objectives; Optuna prunes single-objective "
                         "studies only", self.study_name, len(study.directions))
                self.monitor = None
                return None
            trial_id = study._storage.get_trial_id_from_study_id_trial_number(
                study._study_id, self.trial_number)
            self._trial = optuna.Trial(study, trial_id)
        return self._trial

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or not self.active or self.pruned_at is not None:
            return
        prune = False
        if trainer.is_global_zero:
            value = trainer.callback_metrics.get(self.monitor)
            trial = self.trial() if value is not None else None
            if trial is not None:
                value = float(value)
                epoch = trainer.current_epoch
                trial.report(value if math.isfinite(value) else math.nan, step=epoch)
                prune = trial.should_prune()
                if prune:
                    trial.set_user_attr(PRUNED_ATTR, epoch)
                    log.info("trial %d pruned at epoch %d (%s = %.4f)", self.trial_number,
                             epoch, self.monitor, value)
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True


def pruned_epoch(trainer: Trainer) -> int | None:
    """The epoch at which this trainer's pruning callback stopped the trial, or None."""
    for callback in trainer.callbacks:
        if isinstance(callback, OptunaPruning) and callback.pruned_at is not None:
            return callback.pruned_at
    return None
