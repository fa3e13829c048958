"""Launchers: the slurm config composes and the sbatch file it would submit says what the config
says (no cluster: submission is intercepted); joblib runs jobs in parallel processes."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from hydra.types import HydraContext
from hydra.utils import instantiate
from submitit.slurm.slurm import SlurmExecutor

from tests.helpers.cli import run_train, sweep_dirs
from tests.helpers.hydra import compose_config


class Submitted(Exception):
    """Raised instead of calling sbatch, carrying the submission file's text."""


def task_function(cfg) -> None:  # pickled into the submission; never run here
    return None


def capture_submission(self: SlurmExecutor, command: str):
    raise Submitted(self._make_submission_file_text(command, "uid"))


def test_slurm_launcher_submission_parameters(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_config("train", [
        "hydra/launcher=slurm", "experiment=loss_comparison", "hydra.launcher.partition=gpu",
        "hydra.launcher.gpus_per_node=2", "hydra.launcher.tasks_per_node=2",
        "hydra.launcher.timeout_min=45", "hydra.launcher.array_parallelism=2",
        "+hydra.launcher.additional_parameters.account=bold"], tmp_path)
    launcher_cfg = cfg.hydra.launcher
    assert launcher_cfg._target_.endswith("SlurmLauncher")
    assert (launcher_cfg.partition, launcher_cfg.gpus_per_node, launcher_cfg.timeout_min,
            launcher_cfg.array_parallelism) == ("gpu", 2, 45, 2)
    launcher = instantiate(launcher_cfg)
    launcher.setup(hydra_context=HydraContext(config_loader=None, callbacks=None),
                   task_function=task_function, config=cfg)
    monkeypatch.setattr(SlurmExecutor, "affinity", classmethod(lambda cls: 1))  # "srun found"
    monkeypatch.setattr(SlurmExecutor, "_submit_command", capture_submission)
    jobs = [["model/loss=mse", "seed=1"], ["model/loss=l1", "seed=1"], ["model/loss=l1", "seed=2"]]
    with pytest.raises(Submitted) as submitted:
        launcher.launch(jobs, initial_job_idx=0)
    sbatch = str(submitted.value)
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)=(.*)$", sbatch, flags=re.M))
    assert flags["partition"] == "gpu"
    assert flags["gpus-per-node"] == "2"
    assert flags["ntasks-per-node"] == "2"
    assert flags["time"] == "45"
    assert flags["array"] == "0-2%2"  # 3 jobs, at most 2 at once
    assert flags["job-name"] == "loss_comparison"
    assert flags["cpus-per-task"] == "8" and flags["mem"] == "32GB"
    assert flags["account"] == "bold"
    sweep_dir = str(cfg.hydra.sweep.dir)
    assert flags["output"].startswith(f"{sweep_dir}/.submitit/")
    assert "srun" in sbatch and "submitit.core._submit" in sbatch


def test_joblib_launcher_composes(tmp_path: Path) -> None:
    cfg = compose_config("train", ["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"], tmp_path)
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 3


@pytest.mark.subprocess
def test_joblib_runs_a_sweep_in_parallel_and_reports(prepared_h5: Path, tmp_path: Path) -> None:
    done = run_train(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=1,2",
                      "test=false"], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path)
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "ok"] and list(runs["seed"]) == [1, 2]
