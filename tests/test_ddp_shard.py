"""trainer=ddp_cpu, 2 ranks: each rank holds about half the rows of every split (issue 17)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import lightning.pytorch as pl
import pytest

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
