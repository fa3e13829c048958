"""Every sweep and search command the docs show, typed verbatim through the console script in a
subprocess, from a folder that is not the project, with no extra override.

The size comes from the environment only: ``PROJECT_ROOT`` is a temporary project root whose
``data/processed/synthetic.h5`` is the tiny prepared file and whose
``conf/local/default.yaml`` is ``tests/configs/smoke_local.yaml`` (one epoch, one seed, two
trials per search; the machine-local config mechanism of docs/workflows.md). Each sweep keeps
its whole grid of configurations.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")),
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "conf").glob("experiment/*.yaml")),
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "conf").glob("hparams_search/*.yaml"))]
COMMAND = re.compile(r"(?:\.venv/bin/)?bold5000-ae-train [^#`|\n\\(]*")
# documented sweeps run elsewhere, or that cannot run here, and where they are tested instead
NOT_HERE = {
    ".venv/bin/bold5000-ae-train -m model/loss=mse,l1 trainer.max_epochs=1":
        "README's first sweep: tests/test_multirun.py runs it verbatim without a local config",
    "bold5000-ae-train -m hydra/launcher=slurm hydra.launcher.gpus_per_node=4":
        "needs a SLURM cluster: tests/test_launchers.py checks the sbatch file it would submit",
    "bold5000-ae-train experiment=loss_comparison hydra/launcher=slurm":
        "needs a SLURM cluster: tests/test_launchers.py checks the sbatch file it would submit",
    "bold5000-ae-train experiment=transfer_freeze_vs_finetune model.pretrained=<AE .ckpt>":
        "needs a checkpoint in place of <AE .ckpt>: tests/test_multirun.py runs the experiment",
    "bold5000-ae-train hparams_search=autoencoder_optuna hydra/launcher=slurm "
    "hydra.sweeper.n_jobs=8":
        "needs a SLURM cluster: tests/test_optuna.py runs two sweepers on one journal study",
    "bold5000-ae-train hparams_search=family_comparison search.n_trials=20 "
    "'hydra.sweeper.retrain_seeds=[1,2,3,4,5]'":
        "the full-size variant of the family comparison run below (same code path)",
}
# (command as documented, task folder, jobs the smoke size gives)
SWEEPS = [
    ("bold5000-ae-train experiment=loss_comparison", "loss_comparison", 9),
    ("bold5000-ae-train experiment=loss_comparison model/loss=mse,l1 seed=1",
     "loss_comparison", 2),
    ("bold5000-ae-train experiment=architecture_sweep", "architecture_sweep", 6),
    ("bold5000-ae-train experiment=regularization_sweep", "regularization_sweep", 12),
    ("bold5000-ae-train experiment=vae_beta_sweep", "vae_beta_sweep", 5),
]
# in this order, on one project: each adds trials to the one SQLite study (the journal one
# keeps its own); smoke size: 2 trials each, one epoch
SEARCH = ["bold5000-ae-train hparams_search=autoencoder_optuna",
          "bold5000-ae-train hparams_search=autoencoder_optuna hydra.sweeper.n_trials=5",
          "bold5000-ae-train hparams_search=autoencoder_optuna hydra/sweeper/pruner=hyperband",
          "bold5000-ae-train hparams_search=autoencoder_optuna hydra/sweeper/pruner=none",
          "bold5000-ae-train hparams_search=autoencoder_optuna hydra/launcher=joblib "
          "hydra.sweeper.n_jobs=2",
          "bold5000-ae-train hparams_search=autoencoder_optuna "
          "'hydra.sweeper.storage=journal:${paths.log_dir}/optuna/autoencoder.log'"]
FAMILIES = "bold5000-ae-train hparams_search=family_comparison"


def documented_sweeps() -> set[str]:
    """Every multirun or search command in the docs and config comments."""
    found = set()
    for source in SOURCES:
        for match in COMMAND.findall((REPO / source).read_text()):
            command = " ".join(match.split())
            if re.search(r" -m |experiment=\w*(sweep|comparison|finetune)|hparams_search=",
                         command):
                found.add(command)
    return found


def test_every_documented_sweep_is_tested_here() -> None:
    assert documented_sweeps() == ({c for c, _, _ in SWEEPS} | set(SEARCH) | {FAMILIES}
                                   | set(NOT_HERE))


@pytest.fixture
def project(prepared_h5: Path, tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "data" / "processed").mkdir(parents=True)
    shutil.copy(prepared_h5, root / "data" / "processed" / "synthetic.h5")
    (root / "conf" / "local").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "configs" / "smoke_local.yaml",
                root / "conf" / "local" / "default.yaml")
    return root


def run_documented(command: str, root: Path) -> subprocess.CompletedProcess:
    """The command as typed, from an empty folder; only PROJECT_ROOT says where the project is."""
    elsewhere = root.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    script = str(Path(sys.executable).with_name("bold5000-ae-train"))
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root)}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([script, *shlex.split(command)[1:]], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=900)
    assert list(elsewhere.iterdir()) == []
    return done


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize(("command", "task", "jobs"), SWEEPS, ids=[c for c, _, _ in SWEEPS])
def test_documented_sweep_runs_verbatim(command: str, task: str, jobs: int,
                                        project: Path) -> None:
    done = run_documented(command, project)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sorted((project / "logs" / task / "multiruns").iterdir())
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok"] * jobs, runs["error"].tolist()
    assert f"job {jobs}/{jobs}" in done.stderr  # the progress line counts the whole grid
    assert (sweep / "report" / "report.html").stat().st_size > 3_000_000


@pytest.mark.subprocess
@pytest.mark.slow
def test_documented_search_and_its_rerun(project: Path) -> None:
    import optuna
    from optuna.trial import TrialState

    from bold5000_ae.utils.optuna_storage import open_storage

    for command in SEARCH:
        done = run_documented(command, project)
        assert done.returncode == 0, done.stderr[-3000:]
    study = optuna.load_study(study_name="autoencoder",
                              storage=f"sqlite:///{project / 'logs/optuna/autoencoder.db'}")
    assert [t.number for t in study.trials] == list(range(2 + 5 + 2 + 2 + 2))
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 13
    # every trial, the joblib workers' included, reported its epoch through the storage, and
    # each finished trial's job folder holds the value the study recorded
    assert all(sorted(t.intermediate_values) == [0] for t in study.trials)
    finished = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(finished) >= 11 and all(t.state == TrialState.PRUNED for t in study.trials
                                       if t not in finished)
    for trial in finished:
        job = Path(trial.user_attrs["sweep_dir"]) / str(trial.user_attrs["job"])
        metrics = json.loads((job / "metrics.json").read_text())
        assert metrics["val/r2"] == pytest.approx(trial.value)
    journal = optuna.load_study(study_name="autoencoder", storage=open_storage(
        f"journal:{project / 'logs/optuna/autoencoder.log'}", create=False))
    assert len(journal.trials) == 2


@pytest.mark.subprocess
@pytest.mark.slow
def test_documented_family_comparison(project: Path) -> None:
    """Two nets, the smoke size's 2 trials each in their own study, then each net's best
    retrained with 3 seeds and tested: the retrain report ranks the nets with a CI over seeds,
    beside PCA-k."""
    import optuna

    from bold5000_ae.utils.optuna_storage import open_storage

    done = run_documented(FAMILIES, project)
    assert done.returncode == 0, done.stderr[-3000:]
    storage = open_storage(f"sqlite:///{project / 'logs/optuna/families.db'}", create=False)
    best = {}
    # the first trial of each family is the configured defaults (conf/model/autoencoder.yaml)
    optimizer = yaml.safe_load((REPO / "conf/model/autoencoder.yaml").read_text())["optimizer"]
    defaults = {f"model.optimizer.{k}": optimizer[k] for k in ("lr", "weight_decay")}
    for net in ("conv3d", "mlp"):
        study = optuna.load_study(study_name=f"families.{net}", storage=storage)
        assert len(study.trials) == 2  # the same budget for each family
        assert study.trials[0].params == defaults
        best[net] = study.best_trial.params
    [sweep] = sorted((project / "logs" / "train" / "multiruns").iterdir())
    summary = pd.read_csv(sweep / "retrain" / "report" / "summary.csv")
    assert sorted(summary["label"].str.extract(r"family=(\w+)")[0]) == ["conv3d", "mlp"]
    assert list(summary["seeds"]) == [3, 3]
    assert (summary["test/r2 ci_low"] < summary["test/r2 mean"]).all()
    assert (summary["test/r2 mean"] < summary["test/r2 ci_high"]).all()
    runs = pd.read_csv(sweep / "retrain" / "report" / "runs.csv")
    for _, run in runs.iterrows():  # each family retrained at its study's best parameters
        overrides = run["overrides"].split()
        net = next(o.removeprefix("+family=") for o in overrides if o.startswith("+family="))
        assert {f"{k}={v}" for k, v in best[net].items()} <= set(overrides)
        assert f"model/net={net}" in overrides and "test=true" in overrides
    refs = pd.read_csv(sweep / "retrain" / "report" / "references.csv")
    assert "baseline: pca_k" in set(refs["label"])
    page = (sweep / "report" / "report.html").read_text()
    assert all(f"study <code>families.{net}</code>" in page for net in best)
