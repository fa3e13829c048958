"""trainer=ddp_cpu, 2 ranks: each rank holds about half the rows of every split, and
what must count every rank's rows (the transfer classifier's class weight) still does."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.hdf5_format import PreparedData, write_prepared
from bold5000_ae.models.components.conv3d import Conv3dAutoencoderNet
from bold5000_ae.models.transfer import TransferClassifier
from tests.test_multirun import run_train

ROOT = Path(__file__).resolve().parents[1]


class ShardProbe(pl.Callback):
    """Writes what this rank holds, once its training loader exists (the cache is loaded)."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        dm = trainer.datamodule
        train = dm.datasets["train"]
        info = {"rank": trainer.global_rank, "world": trainer.world_size,
                "rows": {k: v.rows.tolist() for k, v in dm.datasets.items()},
                "cached_rows": None if train._bold is None else int(train._bold.shape[0]),
                "batches": len(trainer.train_dataloader), "pid": os.getpid()}
        (self.out / f"rank{trainer.global_rank}.json").write_text(json.dumps(info))


@pytest.mark.slow
@pytest.mark.subprocess
def test_ddp_cpu_ranks_load_half_the_rows_each(prepared_h5: Path, tmp_path: Path) -> None:
    done = run_train(["trainer=ddp_cpu", "test=false", "data.cache=ram",
                      "+callbacks.shard_probe._target_=tests.test_ddp_shard.ShardProbe",
                      f"+callbacks.shard_probe.out={tmp_path}"], tmp_path, prepared_h5,
                     env={"PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and ranks[0]["pid"] != ranks[1]["pid"]
    # the tiny file: 4 runs of 24 rows; holdout_runs gives 2 runs (48 rows) to train
    for name, total in (("train", 48), ("val", 24), ("test", 24)):
        a, b = (set(r["rows"][name]) for r in ranks)
        assert len(ranks[0]["rows"][name]) == len(ranks[1]["rows"][name]) == total // 2
        assert not a & b, name  # disjoint halves that cover the split
        assert len(a | b) == total, name
    # each rank's RAM cache holds its half only, and steps through half the batches
    assert [r["cached_rows"] for r in ranks] == [24, 24]
    assert [r["batches"] for r in ranks] == [3, 3]  # 24 rows, batch 8


def _alternating_labels(path: Path) -> Path:
    """4 runs of 24 rows whose label alternates row by row: a rank's shard of whole training
    runs (every second row) holds one class only."""
    n = 96
    trials = pd.DataFrame({"image_index": 0, "label": np.arange(n) % 2, "subject": 1,
                           "session": 1, "run": 1 + np.arange(n) // 24, "trial": 1 + np.arange(n),
                           "offset_s": 4.0, "repeat_index": 0})
    write_prepared(path, PreparedData(
        bold=np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32),
        mask=np.ones((8, 1, 1), bool), affine=np.eye(4), trials=trials,
        images=np.zeros((1, 4, 4, 3), np.uint8), image_names=["a.jpg"],
        image_present=np.ones(1, bool)))
    return path


@pytest.mark.parametrize("rank", [0, 1])
def test_transfer_class_weight_counts_every_ranks_training_rows(tmp_path: Path,
                                                                rank: int) -> None:
    dm = BoldDataModule(_alternating_labels(tmp_path / "alt.h5"), cache="none")
    dm._rank_world = lambda: (rank, 2, 1)  # as the trainer of rank `rank` of 2 reports
    dm.setup()
    shard = dm.datasets["train"].meta["label"]
    assert len(shard) == 24 and set(shard.tolist()) == {rank}  # one class in this shard
    net = Conv3dAutoencoderNet((6, 6, 6), channels=[2, 4], latent_dim=3)
    module = TransferClassifier(net, np.ones((6, 6, 6), bool), torch.optim.AdamW)
    module._trainer = type("T", (), {"datamodule": dm, "world_size": 2})()
    type(module).trainer = property(lambda self: self._trainer)
    try:
        module.on_fit_start()
    finally:
        del type(module).trainer
    # 24 living and 24 non-living training rows over both ranks: weight 1 (a shard said 0 or 24)
    assert module.pos_weight.item() == pytest.approx(1.0)
