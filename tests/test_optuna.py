"""Optuna search through the package's own sweeper (hydra_plugins/bold5000_ae_optuna), on the
tiny data: the search space syntax, pruning (and the report showing it), a rerun and a kill -9
continuing one study with new points, a failed trial recorded while the search goes on, and
two concurrent sweeper processes sharing one study. Joblib workers on one study: the documented
joblib search in tests/test_documented_commands.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import sqlalchemy.exc
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hydra_plugins.bold5000_ae_optuna._search_space import search_space
from tests.helpers.cli import TINY_CLI, console_script, run_train, sweep_dirs

SEARCH = ["hparams_search=autoencoder_optuna", "test=false"]


def load(root: Path, storage: str | None = None) -> optuna.Study:
    from bold5000_ae.utils.optuna_storage import open_storage

    url = storage or f"sqlite:///{root / 'logs/optuna/autoencoder.db'}"
    return optuna.load_study(study_name="autoencoder", storage=open_storage(url, create=False))


def points(study: optuna.Study) -> set[tuple]:
    return {tuple(sorted(t.params.items())) for t in study.trials}


def test_search_space_syntax() -> None:
    distributions, fixed = search_space([
        "lr=tag(log, interval(0.001, 0.03))", "wd=interval(0.0, 1.0)", "depth=interval(1, 4)",
        "width=choice(16, 32, 64)", "layers=range(1, 7, 2)", "drop=range(0.0, 0.3, 0.1)",
        "act=shuffle(range(1, 3))", "seed=7", "hidden=choice(8, 16)", "hidden=32"])
    drop = distributions.pop("drop")  # range's stop is left out, as in the basic sweeper
    assert (drop.low, drop.high, drop.step, drop.log) == (0.0, pytest.approx(0.2), 0.1, False)
    assert sorted(distributions.pop("act").choices) == [1, 2]
    assert distributions == {  # Hydra reads an interval's bounds as floats, ints too
        "lr": FloatDistribution(0.001, 0.03, log=True), "wd": FloatDistribution(0.0, 1.0),
        "depth": FloatDistribution(1.0, 4.0), "layers": IntDistribution(1, 5, step=2),
        "width": CategoricalDistribution([16, 32, 64])}
    # a plain value is fixed; a later override of a searched key (the command line) fixes it
    assert fixed == {"seed": "7", "hidden": "32"}


def test_a_first_trial_of_a_parameter_not_searched_is_refused() -> None:
    from hydra_plugins.bold5000_ae_optuna._impl import OptunaSweeperImpl

    typo = {"model.optimizer.lr": 0.01, "model.optimiser.wd": 1}
    sweeper = OptunaSweeperImpl(None, None, "maximize", None, None, 2, 1, 1.0, None,
                                first_trials=[typo])
    with pytest.raises(ValueError, match=r"\['model.optimiser.wd'\] are not searched"):
        sweeper.sweep(["model.optimizer.lr=tag(log, interval(0.001, 0.03))"])


@pytest.mark.subprocess
def test_pruned_trials_stop_early_and_the_report_shows_them(prepared_h5: Path,
                                                             tmp_path: Path) -> None:
    done = run_train([*SEARCH, "hydra.sweeper.n_trials=4", "trainer.max_epochs=3",
                      "hydra.sweeper.pruner.n_startup_trials=1",
                      "hydra.sweeper.pruner.n_warmup_steps=0"], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    study = load(tmp_path)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert pruned and complete and len(pruned) + len(complete) == 4
    # every epoch's val/r2 reached the study; a pruned trial stopped before the third epoch
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in complete)
    [sweep] = sweep_dirs(tmp_path)
    for trial in pruned:
        epochs = sorted(trial.intermediate_values)
        assert len(epochs) < 3 and trial.user_attrs["pruned_at_epoch"] == epochs[-1]
        metrics = json.loads((sweep / str(trial.user_attrs["job"]) / "metrics.json").read_text())
        assert metrics["status"] == "pruned" and metrics["optuna/pruned_at_epoch"] == epochs[-1]
        assert metrics["val/r2"] == pytest.approx(trial.value)
    # the report lists pruned jobs as such and ranks only the complete trials
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert sorted(runs["status"]) == sorted(["pruned"] * len(pruned) + ["ok"] * len(complete))
    summary = pd.read_csv(sweep / "report" / "summary.csv")
    assert sorted(summary["val/r2 mean"]) == pytest.approx(sorted(t.value for t in complete))
    page = (sweep / "report" / "report.html").read_text()
    assert f"{len(pruned)} pruned by the search (not ranked)" in page
    assert f"4 trials, {len(complete)} complete, maximize · {len(pruned)} pruned" in page
    assert "intermediate values (per epoch; pruned trials end early)" in page


@pytest.mark.subprocess
def test_a_killed_search_resumes_on_the_same_study(prepared_h5: Path, tmp_path: Path) -> None:
    """kill -9 in the middle of a trial, rerun the same command: the trial the dead sweeper
    left RUNNING is recorded FAIL, numbering goes on, and no parameter set repeats."""
    args = [*SEARCH, "hydra/sweeper/pruner=none", "trainer.max_epochs=4"]
    h5 = prepared_h5
    # epochs long enough that the poll below catches the second trial between two of them
    cmd = [console_script("bold5000-ae-train"), f"data.path={h5}", *TINY_CLI, *args,
           "hydra.sweeper.n_trials=5", "trainer.max_epochs=20"]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    search = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # a second trial in the middle of its epochs
            time.sleep(0.2)
            try:
                trials = load(tmp_path).trials
            # no database, no study in it yet, or the sweeper creating its tables this moment
            except (FileNotFoundError, KeyError, sqlalchemy.exc.OperationalError):
                continue
            if search.poll() is None:
                running = [t for t in trials if t.state == TrialState.RUNNING]
                if running and running[0].number >= 1 and running[0].intermediate_values:
                    break
        else:
            pytest.fail("the search never reached its second trial's first epoch")
    finally:
        os.killpg(search.pid, signal.SIGKILL)
        search.wait()
    before = load(tmp_path).trials
    interrupted = [t.number for t in before if t.state == TrialState.RUNNING]
    assert len(interrupted) == 1

    done = run_train([*args, "hydra.sweeper.n_trials=2"], tmp_path, h5)
    assert done.returncode == 0, done.stderr[-3000:]
    study = load(tmp_path)
    assert [t.number for t in study.trials] == list(range(len(before) + 2))
    assert [study.trials[n].state for n in interrupted] == [TrialState.FAIL]
    assert all(t.state == TrialState.COMPLETE for t in study.trials[len(before):])
    # the rerun's sampler seed moved on: no parameter set of the first invocation is replayed
    assert len(points(study)) == len(study.trials)
    # the finished trials before the kill keep their values
    assert [t.value for t in study.trials[:interrupted[0]]] == [
        t.value for t in before[:interrupted[0]]]


@pytest.mark.subprocess
def test_a_failed_trial_is_recorded_and_the_search_goes_on(prepared_h5: Path,
                                                           tmp_path: Path) -> None:
    """The grid sampler visits lr=-1.0 first (an error in the job), then lr=0.01."""
    done = run_train([*SEARCH, "hydra/sweeper/sampler=grid", "model.optimizer.lr=choice(-1.0,0.01)",
                      "model.optimizer.weight_decay=1.0", "hydra.sweeper.n_trials=3"],
                     tmp_path, prepared_h5)
    assert done.returncode == 1  # a job failed: the sweep says so after its report
    study = load(tmp_path)
    assert [(t.state, t.params["model.optimizer.lr"]) for t in study.trials] == [
        (TrialState.FAIL, -1.0), (TrialState.COMPLETE, 0.01)]  # the grid is exhausted at 2
    [sweep] = sweep_dirs(tmp_path)
    assert "model.optimizer.lr" in json.loads((sweep / "0" / "failed.json").read_text())["error"]
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["failed", "ok"]


@pytest.mark.subprocess
def test_two_sweeper_processes_share_a_journal_study(prepared_h5: Path, tmp_path: Path) -> None:
    """Two invocations at once on one study in Optuna's journal file (the cluster recipe
    without a database server): distinct trial numbers, distinct parameter sets."""
    journal = tmp_path / "logs/optuna/shared.log"
    cmd = [console_script("bold5000-ae-train"), f"data.path={prepared_h5}", *TINY_CLI, *SEARCH,
           f"hydra.sweeper.storage=journal:{journal}", "hydra.sweeper.n_trials=2",
           "hydra/sweeper/pruner=none"]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    workers = [subprocess.Popen([*cmd, f"hydra.sweep.dir={tmp_path}/sweeps/{i}"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for i in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]
    study = load(tmp_path, f"journal:{journal}")
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len(points(study)) == 4
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2
