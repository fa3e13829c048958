"""The benchmark suite runs end to end at tiny sizes (figures are recorded, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from experiments.benchmarks import bench_data, bench_make_train, bench_train
from experiments.benchmarks.common import Log
from experiments.benchmarks.gpu_check import parity_batch
from experiments.benchmarks.parity import bf16_parity
from experiments.benchmarks.train_setup import FastPath

ROOT = Path(__file__).resolve().parents[1]
# Absent on the GPU machine: the GPU check must not import them. Hydra and OmegaConf are absent
# too, but gpu_check.sh installs their carried wheels (the model is built from conf/).
ABSENT_ON_GPU = ("nilearn", "nibabel", "wandb", "sklearn")
CPU = torch.device("cpu")


@pytest.mark.subprocess
def test_gpu_check_imports_nothing_the_gpu_machine_lacks() -> None:
    code = ("import sys, experiments.benchmarks.gpu_check; "
            f"print(sorted(m for m in {ABSENT_ON_GPU!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_data_benchmark_compares_every_cache_mode_with_the_seed() -> None:
    result = bench_data.run("synthetic", 8, (6, 7, 6), 4, CPU, ["float16"],
                            ["none", "ram", "gpu"], 0.01, Log())
    assert set(result["modes"]) == {"seed_nibabel", "none_float16", "ram_float16", "gpu_float16"}
    assert all(m["vol_per_s"] > 0 for m in result["modes"].values())
    assert set(result["ratio_vs_seed"]) == {"none_float16", "ram_float16", "gpu_float16"}


def test_train_benchmark_reports_speed_flops_memory_and_overhead() -> None:
    fast = FastPath(precision="32-true", compile=False)
    result = bench_train.run((8, 8, 8), 4, 8, CPU, fast,
                             ["eager_fp32", "raw_fast", "lightning_fast"], 1, 1, Log())
    assert result["flops"]["train_gflop_per_volume"] > result["flops"]["forward_gflop_per_volume"]
    for res in result["variants"].values():
        assert res["vol_per_s"] > 0 and res["peak_mib"] > 0
    assert "lightning_overhead_pct" in result["summary"]
    assert "dataset_on_device_mib" in result["variants"]["lightning_fast"]


def test_bf16_parity_check_passes_on_cpu() -> None:
    # not smaller: at 8^3 the bottleneck is 1 voxel and BatchNorm over 4 values is so
    # ill-conditioned that fp32 and bf16 gradients part ways for any change of rounding
    mask, bold = parity_batch((12, 14, 12), 8, CPU)
    result = bf16_parity(mask, bold)
    assert result["passed"], result


@pytest.mark.subprocess
@pytest.mark.slow
def test_gpu_check_script_smoke_writes_json_and_log(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path)}
    done = subprocess.run(["bash", "experiments/benchmarks/gpu_check.sh", "--smoke",
                           "--no-compile"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["parity"]["passed"] and "targets" in report
    assert {"eager_fp32", "raw_fast", "lightning_fast"} <= set(report["train"]["variants"])
    assert (tmp_path / "gpu_check.log").stat().st_size > 0


@pytest.mark.subprocess
def test_make_train_ab_runs_both_trees_and_records_equal_work() -> None:
    """HEAD against the working tree at a tiny size: both sides train, each from its own tree."""
    synth = ("spec=easy", "spec.grid=[12,14,12]", "spec.sessions=2", "spec.runs_per_session=2",
             "spec.trials_per_run=8", "spec.unique_images=16", "spec.image_size=16")
    train = ("trainer.max_epochs=1", "model.net.channels=[4,8]", "model.net.latent_dim=8",
             "logger=csv", "callbacks=none", "trainer.enable_progress_bar=false")
    # spec=easy writes no visual ROI masks: prepare it whole-brain, as make data does
    result = bench_make_train.run("HEAD", 1, Log(), synth, train, ("source=synthetic",))
    assert set(result["seconds"]) == {"before", "now"}
    for side in ("before", "now"):
        assert len(result["seconds"][side]["train"]) == 1 and result["test_r2"][side][0] < 1
    assert result["median_train_s"]["now"] > 0
    if not result["rev_now"].endswith("+dirty"):  # same code, same data, same seed
        assert result["test_r2"]["before"] == result["test_r2"]["now"]
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True,
                               text=True).stdout
    assert "make_train_ab_" not in worktrees  # the temporary checkout is gone
