"""Hydra multiruns through the console script on tiny data: the report at the end, and a failing
job that neither stops the others nor crashes the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TINY_CLI = ["trainer=cpu", "trainer.max_epochs=1", "data.batch_size=8", "model.net.channels=[4,8]",
            "model.net.latent_dim=8", "logger=csv", "callbacks=none",
            "trainer.enable_progress_bar=false"]


def run_train(args: list[str], root: Path, h5: Path, timeout: int = 600,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``bold5000-ae-train <args>`` with outputs under ``root`` and the tiny data."""
    flags = [a for a in args if a.startswith("-")]  # Hydra's argparse: flags before overrides
    cmd = [str(Path(sys.executable).with_name("bold5000-ae-train")), *flags, f"data.path={h5}",
           f"paths.root_dir={root}", *TINY_CLI, *[a for a in args if a not in flags]]
    full_env = {**os.environ, "WANDB_MODE": "disabled", **(env or {})}
    full_env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def sweep_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted((root / "logs" / task / "multiruns").iterdir())


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
    assert page.count("data:image/png;base64,") == 3
    assert "model.net.latent_dim=16" in page


def test_a_failing_job_is_reported_and_the_others_finish(prepared_h5: Path,
                                                         tmp_path: Path) -> None:
    done = run_train(["-m", "model.optimizer.lr=0.002,-1.0,0.001"], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path)
    failure = json.loads((sweep / "1" / "failed.json").read_text())
    assert failure["error"].startswith("ValueError: Invalid learning rate")
    assert "model.optimizer.lr=-1.0" in failure["overrides"]
    assert (sweep / "0" / "metrics.json").is_file() and (sweep / "2" / "metrics.json").is_file()
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "failed", "ok"]
    assert runs["test/r2"].notna().tolist() == [True, False, True]
    assert "Invalid learning rate" in (sweep / "report" / "runs.md").read_text()
    assert "Invalid learning rate" in (sweep / "report" / "report.html").read_text()
    assert len(pd.read_csv(sweep / "report" / "summary.csv")) == 2


def test_a_failing_single_run_still_exits_non_zero(prepared_h5: Path, tmp_path: Path) -> None:
    done = run_train(["model.optimizer.lr=-1.0"], tmp_path, prepared_h5)
    assert done.returncode != 0
    assert "Invalid learning rate" in done.stderr
    assert not list(tmp_path.rglob("failed.json"))


NARROW = {  # each sweep experiment narrowed to one tiny job (command-line values win)
    "loss_comparison": ["model/loss=mse", "seed=1"],
    "regularization_sweep": ["model.regularizer.input_noise.std=0.5",
                             "model.optimizer.weight_decay=0.0", "seed=1"],
    "architecture_sweep": ["model/net=conv3d", "model.net.latent_dim=8", "seed=1"],
    "vae_beta_sweep": ["model.beta=1.0", "seed=1"],
    "transfer_freeze_vs_finetune": ["model.finetune=frozen", "seed=1",
                                    "model.pretrain.max_epochs=1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(NARROW))
def test_sweep_experiment_runs_a_job_and_reports(experiment: str, prepared_h5: Path,
                                                 tmp_path: Path) -> None:
    done = run_train([f"experiment={experiment}", *NARROW[experiment]], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path, task=experiment)
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok"], runs["error"].tolist()
    assert "job 1/1" in done.stderr
