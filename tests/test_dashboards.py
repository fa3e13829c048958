"""Dashboards: wandb (offline, into the job folders) gets one run per job of a sweep, grouped by
the sweep, with config, summary metrics and the reconstruction figure; TensorBoard gets the same
scalars and figures (every epoch here, from the ReconstructionFigures callback), a run folder
named by the job's overrides, and the HParams tab (hyperparameters with final metrics); CSV is
always written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from bold5000_ae.utils.config import run_name
from tests.helpers.cli import run_train, sweep_dirs


@pytest.mark.subprocess
@pytest.mark.slow
def test_wandb_run_per_job_grouped_by_sweep_and_tensorboard(prepared_h5: Path,
                                                            tmp_path: Path) -> None:
    done = run_train(["-m", "logger=many", "seed=1,2",
                      "+callbacks.figures._target_=bold5000_ae.training.callbacks.reconstruction_figures.ReconstructionFigures",
                      "+callbacks.figures.every_n_epochs=1"], tmp_path, prepared_h5,
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
        # the TensorBoard run is named by what the job changed (paths left out)
        [logdir] = [p for p in (job_dir / "tensorboard").rglob("*") if p.is_dir()
                    and list(p.glob("events.out.tfevents.*"))]
        name = logdir.relative_to(job_dir / "tensorboard").as_posix()
        hydra_cfg = yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]
        overrides = hydra_cfg["job"]["override_dirname"]
        assert f"seed={int(job) + 1}" in overrides and "data.path" not in overrides
        assert name == run_name(overrides) and "/" not in name
        events = EventAccumulator(str(logdir), size_guidance={"images": 0})
        events.Reload()
        assert {"test/r2", "val/r2", "test/pearson_r"} <= set(events.Tags()["scalars"])
        assert events.Scalars("test/r2")[-1].value == pytest.approx(metrics["test/r2"], rel=1e-5)
        assert len(events.Scalars("val/r2")) == 1  # one per epoch: no extra point at step 0
        assert "test/reconstruction" in events.Tags()["images"]
        [figure] = events.Images("val/reconstruction")  # from the callback, after epoch 1
        # at the trainer's global step after epoch 1; Lightning logs epoch-end scalars at the
        # index of the epoch's last step, one less
        assert figure.step - 1 == events.Scalars("val/r2")[0].step
        # HParams: this job's hyperparameters beside its final metrics
        hparams = {tag: HParamsPluginData.FromString(content) for tag, content in
                   events.PluginTagToContent("hparams").items()}
        experiment = hparams["_hparams_/experiment"].experiment
        assert {"test/r2", "val/r2"} <= {m.name.tag for m in experiment.metric_infos}
        start = hparams["_hparams_/session_start_info"].session_start_info.hparams
        assert start["seed"].number_value == int(job) + 1
        # the job's own config, as it recorded it
        recorded = yaml.safe_load((job_dir / ".hydra" / "config.yaml").read_text())
        assert start["model.optimizer.lr"].number_value == pytest.approx(
            recorded["model"]["optimizer"]["lr"])
        assert start["model.net.latent_dim"].number_value == 8
        assert (job_dir / "csv" / "metrics.csv").is_file()
    assert len(run_ids) == 2


def test_run_names_are_one_folder_and_never_collide() -> None:
    assert run_name("model/loss=mse,seed=2") == "model.loss=mse,seed=2"
    assert run_name("") == ""
    long = ",".join(f"model.net.key{i}=value{i}" for i in range(20))
    one, two = run_name(long + ",seed=1"), run_name(long + ",seed=2")
    assert len(one.encode()) <= 200 and len(two.encode()) <= 200
    assert one != two and one[:150] == (long + ",seed=1")[:150]
