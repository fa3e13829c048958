"""Pipeline stages: a transfer run trains its autoencoder first with the run's own trainer,
callbacks and loggers (outputs under <run>/pretrain), takes the rows stage 1 trains on as an
argument, and starts stage 2 from stage 1's best weights; resuming uses Lightning's "last"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

import bold5000_ae.training.pipeline as pipeline
from bold5000_ae.cli.train import train
from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.splits import GroupHoldoutSplit
from bold5000_ae.training.callbacks.finite_loss import FiniteLossGuard
from bold5000_ae.training.checkpoint_io import load_state_dict

TRANSFER = ["experiment=phase3_transfer", "callbacks=default", "~callbacks.progress_bar",
            "~callbacks.evaluation", "model.pretrain.max_epochs=2", "trainer.max_epochs=1"]


def test_stage_one_uses_the_runs_trainer_callbacks_and_loggers(train_cfg, monkeypatch) -> None:
    trainers, models = [], []
    build_trainer, model_for_run = pipeline.build_trainer, pipeline.model_for_run

    def recording(*args, **kwargs):
        trainers.append(build_trainer(*args, **kwargs))
        return trainers[-1]

    def keep(*args, **kwargs):
        models.append(model_for_run(*args, **kwargs))
        return models[-1]

    monkeypatch.setattr(pipeline, "build_trainer", recording)
    import bold5000_ae.training.fit_and_test as fit_and_test

    monkeypatch.setattr(fit_and_test, "model_for_run", keep)
    cfg = train_cfg(TRANSFER)
    metrics = train(cfg)
    assert "test/auc" in metrics
    out = Path(cfg.paths.output_dir)
    stage1 = trainers[0]
    kinds = {type(c) for c in stage1.callbacks}
    assert FiniteLossGuard in kinds and EarlyStopping in kinds  # the run's own callbacks
    checkpoints = [c for c in stage1.callbacks if isinstance(c, ModelCheckpoint)]
    assert [Path(c.dirpath) for c in checkpoints] == [out / "pretrain" / "checkpoints"]
    assert stage1.max_epochs == 2 and Path(stage1.default_root_dir) == out / "pretrain"
    assert (out / "pretrain" / "csv" / "metrics.csv").is_file()  # the run's CSV logger
    assert (out / "pretrain" / "metrics.json").is_file()
    best = out / "pretrain" / "checkpoints" / "best.ckpt"
    model = models[0]
    assert model.pretrained == str(best)
    encoder = {k.removeprefix("net.encoder."): v for k, v in load_state_dict(best).items()
               if k.startswith("net.encoder.")}
    ours = model.encoder.state_dict()
    assert all(torch.equal(ours[k].cpu(), encoder[k]) for k in encoder)  # frozen: unchanged


def test_stage_one_trains_on_the_rows_it_is_given(train_cfg, prepared_h5: Path) -> None:
    cfg = train_cfg(TRANSFER)
    run_data = BoldDataModule(prepared_h5, labeled_only=True)
    run_data.setup()
    pool = BoldDataModule(prepared_h5, split=GroupHoldoutSplit(val_groups=1, test_groups=2))
    pool.setup()
    pipeline.model_for_run(cfg, run_data, pretrain_data=pool)
    seen = pd.read_csv(Path(cfg.model.pretrain.output_dir) / "split.csv")
    expected = pool.split_table()
    assert seen["split"].tolist() == expected["split"].tolist()
    assert (seen["split"] == "test").sum() != (run_data.split_table()["split"] == "test").sum()


def test_a_given_checkpoint_skips_stage_one(train_cfg, tmp_path: Path) -> None:
    first = train_cfg(["trainer.max_epochs=1"])
    train(first)
    ckpt = Path(shutil.copy(next(Path(first.paths.output_dir).rglob("*.ckpt")),
                            tmp_path / "given.ckpt"))
    shutil.rmtree(first.paths.output_dir)  # a folder holds one run: the next one starts clean
    cfg = train_cfg([*TRANSFER, f"model.pretrained='{ckpt}'"])
    train(cfg)
    assert not (Path(cfg.paths.output_dir) / "pretrain").exists()


def test_ckpt_path_last_with_nothing_to_resume_is_one_line(train_cfg, capsys) -> None:
    cfg = train_cfg(["ckpt_path=last"])
    with pytest.raises(SystemExit) as stop:
        train(cfg)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "no checkpoint to resume from" in line


def test_resume_continues_from_lightnings_last(train_cfg) -> None:
    cfg = train_cfg(["trainer.max_epochs=1", "callbacks=default", "~callbacks.progress_bar"])
    train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    first_step = torch.load(last, weights_only=True)["global_step"]
    again = train_cfg(["trainer.max_epochs=2", "callbacks=default", "~callbacks.progress_bar",
                       "ckpt_path=last"])
    train(again)
    resumed = torch.load(last, weights_only=True)
    assert resumed["epoch"] == 1 and resumed["global_step"] == 2 * first_step
