"""Dashboards: wandb (offline, into the job folders) gets one run per job of a sweep, grouped by
the sweep, with config, summary metrics and the reconstruction figure; TensorBoard gets the same
scalars and figure; CSV is always written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers.cli import run_train, sweep_dirs


@pytest.mark.subprocess
@pytest.mark.slow
def test_wandb_run_per_job_grouped_by_sweep_and_tensorboard(prepared_h5: Path,
                                                            tmp_path: Path) -> None:
    done = run_train(["-m", "logger=many", "seed=1,2"], tmp_path, prepared_h5,
                     env={"WANDB_MODE": "offline", "WANDB_SILENT": "true"})
    assert done.returncode == 0, done.stderr[-3000:]
    [sweep] = sweep_dirs(tmp_path)
    group = f"train_{sweep.name}".encode()
    run_ids = set()
    for job in ("0", "1"):
        job_dir = sweep / job
        metrics = json.loads((job_dir / "metrics.json").read_text())
        [run] = list((job_dir / "wandb").glob("offline-run-*"))  # finished, then a new one
        run_ids.add(run.name.rsplit("-", 1)[-1])
        # offline runs are one protobuf record log; strings are stored as they are
        records = next(run.glob("run-*.wandb")).read_bytes()
        assert group in records  # the run record's group
        assert b"optimized_metric" in records and b"batch_size" in records  # composed config
        assert b"test/r2" in records and b"val/pearson_r" in records  # summary and history
        assert list((run / "files" / "media" / "images").rglob("*.png"))
        events = EventAccumulator(str(job_dir / "tensorboard"), size_guidance={"images": 0})
        events.Reload()
        assert {"test/r2", "val/r2", "test/pearson_r"} <= set(events.Tags()["scalars"])
        assert events.Scalars("test/r2")[-1].value == pytest.approx(metrics["test/r2"], rel=1e-5)
        assert "test/reconstruction" in events.Tags()["images"]
        assert (job_dir / "csv" / "metrics.csv").is_file()
    assert len(run_ids) == 2
