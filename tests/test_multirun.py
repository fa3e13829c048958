"""Hydra multiruns through the console script on tiny data: the report at the end, and a failing
job that neither stops the others nor crashes the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.cli import TINY_CLI, run_train, sweep_dirs  # noqa: F401 (re-exported)


@pytest.mark.subprocess
def test_readme_first_sweep_runs_verbatim_from_another_folder(prepared_h5: Path,
                                                            tmp_path: Path) -> None:
    """The README's first sweep, typed as written (no ``paths.*`` override), from a folder that is
    not the project: Hydra builds the sweep dir before HydraConfig exists, so a path default that
    needs ``${hydra:runtime.cwd}`` fails there with ``HydraConfig was not set``."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    command = ".venv/bin/bold5000-ae-train -m model/loss=mse,l1 trainer.max_epochs=1"
    assert command in readme
    root, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (root / "data" / "processed").mkdir(parents=True)
    elsewhere.mkdir()
    shutil.copy(prepared_h5, root / "data" / "processed" / "synthetic.h5")
    script = str(Path(sys.executable).with_name("bold5000-ae-train"))
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root)}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([script, *command.split()[1:]], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(root)
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "ok"]
    assert list(runs["label"]) == ["model/loss=mse", "model/loss=l1"]
    assert list(elsewhere.iterdir()) == []  # nothing written where the command was typed


def test_project_root_defaults_to_the_checkout_not_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bold5000_ae.utils.config import project_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROJECT_ROOT", raising=False)
    assert project_root() == str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PROJECT_ROOT", str(tmp_path / "elsewhere"))
    assert project_root() == str(tmp_path / "elsewhere")


@pytest.mark.subprocess
def test_three_job_multirun_writes_its_report(prepared_h5: Path, tmp_path: Path) -> None:
    done = run_train(["-m", "model.net.latent_dim=4,8,16"], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path)
    report = sweep / "report"
    runs = pd.read_csv(report / "runs.csv")
    assert list(runs["status"]) == ["ok"] * 3
    assert list(runs["label"]) == [f"model.net.latent_dim={d}" for d in (4, 8, 16)]
    for job, row in runs.iterrows():
        written = json.loads((sweep / str(job) / "metrics.json").read_text())
        assert row["test/r2"] == written["test/r2"]
        assert (sweep / str(job) / "figures" / "example.npz").is_file()
    summary = pd.read_csv(report / "summary.csv")
    assert len(summary) == 3 and list(summary["n"]) == [1, 1, 1]
    assert list(summary["test/r2 mean"]) == sorted(runs["test/r2"], reverse=True)
    assert not any("loss" in column for column in summary.columns)
    for name in ("metrics.png", "learning_curves.png", "montage.png"):
        assert (report / name).stat().st_size > 5_000, name
    page = (report / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 3  # the PNGs; Plotly's JS has its own
    assert "model.net.latent_dim=16" in page


@pytest.mark.subprocess
def test_a_failing_job_is_reported_and_the_others_finish(prepared_h5: Path,
                                                         tmp_path: Path) -> None:
    done = run_train(["-m", "model.optimizer.lr=0.002,-1.0,0.001"], tmp_path, prepared_h5)
    assert done.returncode == 1, done.stderr[-3000:]  # after the report
    [sweep] = sweep_dirs(tmp_path)
    failure = json.loads((sweep / "1" / "failed.json").read_text())
    # refused in one line before training, not torch's ValueError from inside the optimizer
    assert failure["error"].startswith("InputError: model.optimizer.lr: must be a finite")
    assert "model.optimizer.lr=-1.0" in failure["overrides"]
    assert (sweep / "0" / "metrics.json").is_file() and (sweep / "2" / "metrics.json").is_file()
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "failed", "ok"]
    assert runs["test/r2"].notna().tolist() == [True, False, True]
    assert "must be a finite number" in (sweep / "report" / "runs.md").read_text()
    assert "must be a finite number" in (sweep / "report" / "report.html").read_text()
    assert len(pd.read_csv(sweep / "report" / "summary.csv")) == 2


@pytest.mark.subprocess
def test_a_failing_single_run_still_exits_non_zero(prepared_h5: Path, tmp_path: Path) -> None:
    done = run_train(["model.optimizer.lr=-1.0"], tmp_path, prepared_h5)
    assert done.returncode == 2  # bad input, refused in one line before any training
    assert done.stderr.strip() == ("error: model.optimizer.lr: must be a finite number > 0, "
                                   "got -1.0")
    assert not list(tmp_path.rglob("failed.json"))


# The other sweep experiments run their whole grid, verbatim, in
# tests/test_documented_commands.py; this one needs an autoencoder checkpoint, so here it runs
# narrowed to one tiny job (command-line values win) with its pretraining stage.
TRANSFER = ["experiment=transfer_freeze_vs_finetune", "model.finetune=frozen", "seed=1",
            "model.pretrain.max_epochs=1"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_transfer_experiment_pretrains_runs_a_job_and_reports(prepared_h5: Path,
                                                              tmp_path: Path) -> None:
    done = run_train(TRANSFER, tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path, task="transfer_freeze_vs_finetune")
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok"], runs["error"].tolist()
    assert "job 1/1" in done.stderr
