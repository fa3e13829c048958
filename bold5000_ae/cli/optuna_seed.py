"""``${optuna_seed:<base>,<storage>,<study>}``: a sampler seed that moves on with the study.

Optuna's samplers draw their start-up trials from their own random stream. With a fixed seed, a
rerun that loads a stored study replays the same stream: the first trials of the second
invocation repeat the first trials of the first one exactly. Seeding with ``base + number of
trials already in the study`` keeps a fresh study reproducible (same base, same draws) and makes
every rerun draw new points.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def trials_in_study(storage: str | None, study_name: str | None) -> int:
    """How many trials the stored study holds; 0 when it (or its SQLite file) does not exist.

    A missing SQLite file is checked for first: opening it would create an empty database."""
    if not storage or not study_name or storage in ("None", "null"):
        return 0
    if storage.startswith("sqlite:///") and not Path(storage.removeprefix("sqlite:///")).is_file():
        return 0
    import optuna

    try:
        summaries = optuna.study.get_all_study_summaries(storage=storage)
    except Exception as exc:  # noqa: BLE001 - an unreadable storage gets the base seed
        log.warning("optuna_seed: could not read %s (%s); using the base seed", storage, exc)
        return 0
    return next((s.n_trials for s in summaries if s.study_name == study_name), 0)


def optuna_seed(base: int | None, storage: str | None = None, study_name: str | None = None
                ) -> int | None:
    """``base`` plus the study's trial count; None (an unseeded sampler) stays None."""
    if base is None or str(base) in ("None", "null"):
        return None
    return int(base) + trials_in_study(storage and str(storage), study_name and str(study_name))


def register() -> None:
    if not OmegaConf.has_resolver("optuna_seed"):
        OmegaConf.register_new_resolver("optuna_seed", optuna_seed)


register()
