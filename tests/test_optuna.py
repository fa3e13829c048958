"""Optuna search: 3 trials land in a SQLite study; rerunning the command adds 3 new ones (the
sampler's seed moves on with the study, so nothing is replayed); the report ranks trials by the
objective and shows the study's best trial, history, importances and parallel coordinates."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest

from tests.helpers.cli import run_train, sweep_dirs

SEARCH = ["hparams_search=autoencoder_optuna", "test=false"]


def load(root: Path) -> optuna.Study:
    return optuna.load_study(study_name="autoencoder",
                             storage=f"sqlite:///{root / 'logs/optuna/autoencoder.db'}")


@pytest.mark.subprocess
def test_study_persists_and_a_rerun_adds_trials(prepared_h5: Path, tmp_path: Path) -> None:
    first = run_train([*SEARCH, "hydra.sweeper.n_trials=3"], tmp_path, prepared_h5)
    assert first.returncode == 0, first.stderr[-3000:]
    assert (tmp_path / "logs/optuna/autoencoder.db").is_file()
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    lrs = [t.params["model.optimizer.lr"] for t in study.trials]
    # inside the search space of conf/hparams_search/autoencoder_optuna.yaml
    assert all(1e-3 <= lr <= 3e-2 for lr in lrs) and len(set(lrs)) == 3
    # a searched parameter given on the command line (TINY_CLI's latent_dim) is held fixed
    assert all("model.net.latent_dim" not in t.params for t in study.trials)
    # the objective is each trial's val/r2, as its job folder recorded it
    [sweep] = sweep_dirs(tmp_path)
    recorded = [json.loads((sweep / str(i) / "metrics.json").read_text())["val/r2"]
                for i in range(3)]
    assert [t.value for t in study.trials] == pytest.approx(recorded)

    second = run_train([*SEARCH, "hydra.sweeper.n_trials=3"], tmp_path, prepared_h5)
    assert second.returncode == 0, second.stderr[-3000:]
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2, 3, 4, 5]
    assert [t.params["model.optimizer.lr"] for t in study.trials[:3]] == lrs
    # 2n distinct trials: a fixed seed would replay trials 0-2 as 3-5
    points = {tuple(sorted(t.params.items())) for t in study.trials}
    assert len(points) == 6
    # each invocation is its own multirun folder with its own report
    sweeps = sweep_dirs(tmp_path)
    assert len(sweeps) == 2
    assert all((s / "report" / "report.html").is_file() for s in sweeps)
    # the report ranks this invocation's trials by the objective, best first
    summary = pd.read_csv(sweeps[1] / "report" / "summary.csv")
    assert list(summary["val/r2 mean"]) == sorted(
        [t.value for t in study.trials[3:]], reverse=True)
    page = (sweeps[1] / "report" / "report.html").read_text()
    best = study.best_trial
    assert "6 trials, 6 complete, maximize" in page
    assert f"<tr><th>trial</th><td>{best.number}</td></tr>" in page
    for title in ("objective history", "parameter importances", "parallel coordinates (all"):
        assert title in page, title


def test_sampler_seed_moves_on_with_the_study(tmp_path: Path) -> None:
    from bold5000_ae.cli.optuna_seed import optuna_seed

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert optuna_seed(1234, storage, "s") == 1234
    assert not (tmp_path / "study.db").exists()  # asking does not create the database
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert optuna_seed(1234, storage, "s") == 1237
    assert optuna_seed(1234, storage, "other") == 1234
    assert optuna_seed(None, storage, "s") is None  # an unseeded sampler stays unseeded
