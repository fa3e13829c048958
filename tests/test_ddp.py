"""trainer=ddp_cpu: two gloo processes complete a fit, and rank 0 alone leaves files behind;
with the re-launching ``ddp`` strategy inside a multirun, child ranks run their job, not the
sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import run_train, sweep_dirs
from tests.helpers.hydra import compose_config

FILES = ["callbacks=default", "~callbacks.progress_bar", "~callbacks.early_stopping",
         "logger=default", "test=false", "trainer.max_epochs=2"]


def test_ddp_configs_compose(tmp_path: Path) -> None:
    cpu = compose_config("train", ["trainer=ddp_cpu"], tmp_path).trainer
    assert (cpu.accelerator, cpu.devices, cpu.strategy.process_group_backend,
            cpu.strategy.start_method) == ("cpu", 2, "gloo", "spawn")
    gpu = compose_config("train", ["trainer=ddp"], tmp_path).trainer
    assert (gpu.accelerator, gpu.strategy.process_group_backend, gpu.sync_batchnorm) == (
        "gpu", "nccl", True)


def _one_run_of_files(run: Path) -> None:
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    # one best checkpoint (which of the 2 epochs was best depends on the training order, which
    # the per-rank shards decide) and last.ckpt: rank 0 alone wrote them
    assert len(checkpoints) == 2 and checkpoints[1] == "last.ckpt", checkpoints
    assert checkpoints[0] in ("epoch_000.ckpt", "epoch_001.ckpt"), checkpoints
    assert [p.relative_to(run) for p in run.rglob("metrics.csv")] == [Path("csv/metrics.csv")]
    # one TensorBoard run folder; the HParams summary written after the test (when Lightning has
    # closed the first writer) is a second event file in that folder, which TensorBoard merges
    assert len({p.parent for p in run.rglob("events.out.tfevents*")}) == 1
    assert len(list(run.rglob("metrics.json"))) == 1


@pytest.mark.subprocess
@pytest.mark.slow
def test_ddp_cpu_two_processes_fit_and_leave_one_set_of_files(prepared_h5: Path,
                                                              tmp_path: Path) -> None:
    done = run_train(["trainer=ddp_cpu", *FILES], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stderr + done.stdout
    assert "All distributed processes registered. Starting with 2 processes" in (
        done.stderr + done.stdout)
    [run] = list((tmp_path / "logs/train/runs").iterdir())
    _one_run_of_files(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/r2" in metrics


@pytest.mark.subprocess
@pytest.mark.slow
def test_relaunching_ddp_in_a_multirun_runs_each_job_once(prepared_h5: Path,
                                                          tmp_path: Path) -> None:
    done = run_train(["-m", "trainer=ddp_cpu", "trainer.strategy.start_method=popen",
                      "seed=1,2", *FILES], tmp_path, prepared_h5)
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path)  # a child re-running the sweep would add a second one
    assert not (tmp_path / "logs/train/runs").exists()
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1"]
    for job in ("0", "1"):
        _one_run_of_files(sweep / job)
    assert (sweep / "report" / "report.html").is_file()
