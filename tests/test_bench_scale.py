"""bench_scale runs end to end at a tiny size, in-process (figures recorded, never asserted)."""

from __future__ import annotations

from pathlib import Path

from experiments.benchmarks import bench_scale
from experiments.benchmarks.common import Log


def test_scale_benchmark_records_every_step_and_fits(tmp_path: Path) -> None:
    # the default generator (brain, with its twin) over the seed's field of view, at a tiny grid
    result = bench_scale.run((16, 18, 14), [1, 2], 60, Log(), tmp_path, spawn=bench_scale.child,
                             n_jobs_2=False)
    assert result["steps"]["synth_1"]["generator"] == "brain"
    assert set(result["steps"]) == {f"{s}_{n}" for s in ("synth", "prepare", "setup_ram")
                                    for n in (1, 2)}
    assert result["steps"]["prepare_2"]["samples"] == 2 * result["steps"]["prepare_1"]["samples"]
    assert result["steps"]["setup_ram_2"]["train_rows"] == result["steps"]["prepare_2"]["samples"]
    hp = result["highpass"]
    assert hp["cosine_cpu_s_per_run"] > 0 and 0 < hp["corr_median"] <= 1
    fit = result["fits"]["prepare_seconds"]
    assert set(fit) == {"intercept", "per_run", "one_subject", "four_subjects"}
    again = bench_scale.setup_only(tmp_path, [1, 2], Log(), spawn=bench_scale.child)
    assert again["steps"]["setup_ram_1"]["train_rows"] == result["steps"]["prepare_1"]["samples"]
