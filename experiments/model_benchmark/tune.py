"""The benchmark's equal tuning budget: one Optuna search of the same trials per family.

Each family of ``families.yaml`` is searched with ``bold5000-ae-train
hparams_search=family_comparison`` (the console script, as a user runs it; the package's own
sweeper, its search space and pruning) restricted to that one family, on the benchmark's data,
split and epochs, in its own study ``model_benchmark.<family>`` of ``<out>/optuna.db``. The
first trial of every study is the defaults, so a family's best is never below them on
``val/r2``. A rerun adds only the trials a study still lacks (an interrupted search resumes);
finished (complete or pruned) trials count towards the budget.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bold5000_ae.utils.optuna_storage import family_name, open_storage

STUDY = "model_benchmark"


def study_name(overrides: Sequence[str]) -> str:
    """The stored study of a family: the sweeper names it by its overrides' values."""
    return f"{STUDY}.{family_name(' '.join(overrides))}"


def load(storage: str, name: str) -> Any:
    """The stored study, or None when it (or its file) does not exist yet."""
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage, create=False))
    except (FileNotFoundError, KeyError):
        return None


def finished_trials(study: Any) -> list[Any]:
    """The study's complete and pruned trials: the budget it has used."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states) if study is not None else []


def search_family(bin_dir: Path, name: str, overrides: Sequence[str], data: Path, out: Path,
                  n_trials: int, common: Sequence[str]) -> dict[str, Any]:
    """Search one family until its study holds ``n_trials`` finished trials; its best
    parameters and trial count. ``common``: the benchmark's overrides for every run (split,
    epochs, logger, ...)."""
    if not overrides:
        raise ValueError(f"family {name}: a searched family needs at least one override")
    storage = f"sqlite:///{(out / 'optuna.db').resolve()}"
    name_in_storage = study_name(overrides)
    missing = n_trials - len(finished_trials(load(storage, name_in_storage)))
    if missing > 0:
        command = [str(bin_dir / "bold5000-ae-train"), "hparams_search=family_comparison",
                   f"data.path={data}", *common, f"search.n_trials={missing}",
                   f"hydra.sweeper.families=['{' '.join(overrides)}']",
                   "hydra.sweeper.retrain_seeds=[]", f"hydra.sweeper.study_name={STUDY}",
                   f"hydra.sweeper.storage={storage}",
                   f"hydra.sweep.dir={out / 'search' / name}"]
        if subprocess.run(command).returncode != 0:
            sys.exit(f"error: family {name}: the search failed: {' '.join(command)}")
    study = load(storage, name_in_storage)
    trials = finished_trials(study)
    try:
        best = study.best_trial  # in the study's direction, among complete trials
    except (AttributeError, ValueError):
        sys.exit(f"error: family {name}: no trial of study {name_in_storage} in {storage} "
                 "completed")
    return {"study": name_in_storage, "trials": len(trials),
            "pruned": sum(t.state.name == "PRUNED" for t in trials),
            "best_trial": best.number, "best_val_r2": best.value, "params": best.params}


def tuned_overrides(tuned: dict[str, Any]) -> list[str]:
    """A family's best parameters as ``bold5000-ae-train`` overrides."""
    return [f"{k}={v}" for k, v in tuned["params"].items()]
