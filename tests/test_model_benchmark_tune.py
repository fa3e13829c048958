"""The model benchmark's equal tuning budget (experiments/model_benchmark/tune.py, run.py
--tune), on the tiny data: every family gets the same number of trials in its own study, the
first of them the configured defaults; the family is then trained at its study's best
parameters; a rerun of the same command adds no trial and trains nothing again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from bold5000_ae.utils.optuna_storage import open_storage
from experiments.model_benchmark.report import table
from experiments.model_benchmark.tune import study_name

REPO = Path(__file__).resolve().parents[1]
FAMILIES = yaml.safe_load((REPO / "experiments/model_benchmark/families.yaml").read_text())


def benchmark(h5: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "experiments.model_benchmark.run", "--data", str(h5),
               "--out", str(out), "--families", "linear_ae", "mlp_ae", "--seeds", "0",
               "--epochs", "1", "--tune", "2", "--split", "holdout_runs", "--no-transfer",
               "--overrides", "data.batch_size=16"]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(out)}
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.subprocess
def test_each_family_is_trained_at_the_best_of_an_equal_search(prepared_h5: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "bench"
    done = benchmark(prepared_h5, out)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    storage = open_storage(f"sqlite:///{out / 'optuna.db'}", create=False)
    defaults = yaml.safe_load((REPO / "conf/model/autoencoder.yaml").read_text())["optimizer"]
    for family in ("linear_ae", "mlp_ae"):
        study = optuna.load_study(study_name=study_name(FAMILIES[family]), storage=storage)
        assert len(study.trials) == 2  # the same budget for each family
        assert study.trials[0].params == {f"model.optimizer.{k}": defaults[k]
                                          for k in ("lr", "weight_decay")}
        complete = [t for t in study.trials if t.state.name == "COMPLETE"]
        best = max(complete, key=lambda t: t.value)
        tuned = results["tuned"][family]
        assert (tuned["best_trial"], tuned["params"]) == (best.number, best.params)
        assert tuned["best_val_r2"] == pytest.approx(best.value)
        # the benchmark's run of the family is trained at those parameters
        run = out / "runs" / family / "seed0"
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        assert {f"{k}={v}" for k, v in best.params.items()} <= set(overrides)
        assert set(FAMILIES[family]) <= set(overrides)
        assert json.loads((run / "metrics.json").read_text())["status"] == "finished"
    text = table(results)  # the table names the budget and each family's best
    assert "each family at its best of 2 Optuna trials" in text
    assert f"| linear_ae | 2 (0) | {results['tuned']['linear_ae']['best_trial']} |" in text

    again = benchmark(prepared_h5, out)  # resumes: nothing left to search or train
    assert again.returncode == 0, again.stderr[-3000:]
    for family in ("linear_ae", "mlp_ae"):
        study = optuna.load_study(study_name=study_name(FAMILIES[family]), storage=storage)
        assert len(study.trials) == 2
    assert json.loads((out / "results.json").read_text())["families"]["mlp_ae"][
        "train_seconds"] == [0.0]
