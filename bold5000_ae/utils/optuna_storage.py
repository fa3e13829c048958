"""Where an Optuna study lives, as one string that the sweeper, its trials and the report share.

- ``sqlite:///<path>`` (any SQLAlchemy URL): Optuna's RDB storage. SQLite gets a long lock
  timeout: the sweeper and its trials (joblib workers reporting per epoch) write to one file.
- ``journal:<path>``: Optuna's journal storage in a file (``JournalFileBackend``), the documented
  way to share a study between workers on a cluster's shared file system without a database
  server (SQLite's locking is unreliable on NFS).

The string is what ``hydra.sweeper.storage`` holds and ``sweep.json`` records, so a job process,
another worker or ``bold5000-ae-report`` opens the same study from it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
JOURNAL = "journal:"
SQLITE = "sqlite:///"


def storage_file(url: str) -> Path | None:
    """The file a SQLite or journal storage keeps the study in; None for a database server."""
    if url.startswith(JOURNAL):
        return Path(url.removeprefix(JOURNAL))
    if url.startswith(SQLITE):
        return Path(url.removeprefix(SQLITE))
    return None


def open_storage(url: str, create: bool = True) -> Any:
    """An Optuna storage for ``url`` (see the module docstring); its folder is made when
    ``create``. A SQLite or journal file that does not exist (and ``create`` is False) is a
    ``FileNotFoundError``: opening it would create an empty study database."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    path = storage_file(url)
    if path is not None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise FileNotFoundError(f"no Optuna study storage at {path}")
    if url.startswith(JOURNAL):
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)


def trials_in_study(url: str | None, study_name: str | None) -> int:
    """How many trials the stored study holds; 0 when the study (or its file) does not exist."""
    if not url or not study_name:
        return 0
    import optuna

    try:
        storage = open_storage(url, create=False)
        summaries = optuna.study.get_all_study_summaries(storage=storage)
    except FileNotFoundError:
        return 0
    return next((s.n_trials for s in summaries if s.study_name == study_name), 0)


def family_name(overrides: str) -> str:
    """A family of an equal-budget comparison, named by its overrides' values:
    ``model/net=mlp model.net.latent_dim=32`` → ``mlp-32`` (its study: ``<study>.mlp-32``).
    Only letters, digits, ``_`` and ``.`` are kept of each value (the name is also a Hydra
    override value, ``+family=<name>``): ``model/regularizer=[input_noise]`` →
    ``input_noise``; a value left empty (``model.net.hidden=[]``) is left out."""
    values = (re.sub(r"[^\w.]", "", o.partition("=")[2] or o) for o in overrides.split())
    return "-".join(v for v in values if v)
