"""The datamodule at scale: a RAM cache bounded by the split's stored size, refused up front when
it does not fit, and datasets made of several prepared files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from bold5000_ae.cli.train import train
from bold5000_ae.data import memory
from bold5000_ae.data.datamodule import BoldDataModule, shard_rows
from bold5000_ae.data.hdf5_format import PreparedData, read_prepared, write_prepared
from bold5000_ae.data.splits import CrossSubjectSplit
from bold5000_ae.utils.errors import InputError
from experiments.benchmarks.common import TrainOnly
from tests.conftest import TINY_TRAIN, compose_config


def _random_file(path: Path, n: int, v: int, dtype: str) -> Path:
    rng = np.random.default_rng(0)
    trials = pd.DataFrame({"image_index": 0, "label": rng.integers(0, 2, n), "subject": 1,
                           "session": 1, "run": 1 + np.arange(n) // 50, "trial": 1,
                           "offset_s": 4.0, "repeat_index": 0})
    write_prepared(path, PreparedData(
        bold=(3 + 2 * rng.standard_normal((n, v))).astype(np.float32),
        mask=np.ones((v, 1, 1), bool), affine=np.eye(4), trials=trials,
        images=np.zeros((1, 4, 4, 3), np.uint8), image_names=["a.jpg"],
        image_present=np.ones(1, bool)), bold_dtype=dtype)
    return path


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_ram_cache_peak_is_the_split_in_its_stored_dtype(tmp_path: Path, dtype: str) -> None:
    """setup + load of a 2,000 x 4,000 split: peak traced memory at most 1.2 x the split in its
    stored dtype plus a constant (the old cache peaked at 3 x the split in float32)."""
    path = _random_file(tmp_path / "big.h5", 2000, 4000, dtype)
    dm = BoldDataModule(path, split=TrainOnly(), cache="ram", batch_size=64)
    split_bytes = 2000 * 4000 * np.dtype(dtype).itemsize
    tracemalloc.start()
    dm.setup()
    dm.datasets["train"].load()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.2 * split_bytes + 16 * 2**20, (peak / 2**20, split_bytes / 2**20)
    cached = dm.datasets["train"]._bold
    assert cached.dtype == getattr(torch, dtype) and cached.shape == (2000, 4000)
    # served batches: float32, normalised with the training statistics, same as cache=none
    ram = next(iter(dm.train_dataloader()))
    none = BoldDataModule(path, split=TrainOnly(), cache="none", batch_size=64)
    none.setup()
    ref = none.datasets["train"].get_batch(ram["index"].tolist())
    assert ram["bold"].dtype == torch.float32
    torch.testing.assert_close(ram["bold"], ref["bold"], rtol=1e-5, atol=1e-5)
    served = torch.cat([b["bold"] for b in dm.train_dataloader()])
    assert served.mean(0).abs().max() < 1e-2 and (served.std(0) - 1).abs().max() < 1e-2


def test_too_big_ram_cache_is_refused_in_one_line(prepared_h5: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 100_000)
    dm = BoldDataModule(prepared_h5, cache="ram")
    with pytest.raises(InputError) as err:
        dm.setup()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{prepared_h5}: data.cache=ram needs ")
    # every row of the tiny file in float32: 96 x 440 x 4 bytes = 0.16 MiB
    assert "needs 0.2 MiB for 96 rows x 440 voxels in float32" in message
    assert "0.1 MiB available" in message and "use data.cache=none" in message
    BoldDataModule(prepared_h5, cache="none").setup()  # reads per batch: no check
    cfg = compose_config("train", [f"data.path={prepared_h5}", *TINY_TRAIN], tmp_path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        train(cfg)  # the entry point: one line on stderr, exit status 2
    assert done.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: {message}"
    GlobalHydra.instance().clear()


def test_available_memory_reads_meminfo_and_cgroup() -> None:
    total = next(int(line.split()[1]) * 1024 for line in
                 Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    assert 0 < memory.mem_available() <= total
    room = memory.cgroup_available()
    assert 0 < memory.available_bytes() <= (room if room is not None else total)


def _second_subject(src: Path, out: Path, drop_voxel: bool = False) -> Path:
    """The tiny file as subject 2 (optionally without the first voxel of the mask)."""
    data = read_prepared(src)
    data.trials = data.trials.assign(subject=2)
    if drop_voxel:
        first = tuple(np.argwhere(data.mask)[0])
        data.mask = data.mask.copy()
        data.mask[first] = False
        data.bold = data.bold[:, 1:]
    write_prepared(out, data)
    return out


def test_several_files_are_one_dataset(prepared_h5: Path, tmp_path: Path) -> None:
    one = tmp_path / "sub1.h5"
    one.write_bytes(prepared_h5.read_bytes())
    two = _second_subject(prepared_h5, tmp_path / "sub2.h5")
    split = CrossSubjectSplit(train_subjects=[1], test_subjects=[2], val_groups=1,
                              val_group_by=("subject", "session", "run"))
    dm = BoldDataModule(str(tmp_path / "sub*.h5"), split=split, cache="ram", batch_size=16)
    dm.setup()
    assert dm.files.paths == [one, two] and len(dm.trials) == 2 * 96
    tests = torch.cat([b["index"] for b in dm.test_dataloader()])
    assert sorted(tests.tolist()) == list(range(96, 192))  # every row of the second file
    train_rows = dm.datasets["train"].rows
    assert train_rows.max() < 96 and len(train_rows) == 72  # 3 of subject 1's 4 runs
    ref = read_prepared(prepared_h5).bold
    np.testing.assert_allclose(dm.mean, ref[train_rows].mean(0), atol=1e-5)
    batch = dm.datasets["test"].get_batch([0, 5])
    np.testing.assert_allclose(batch["bold"].numpy(), (ref[[0, 5]] - dm.mean) / dm.std,
                               atol=1e-5)
    # image identities are shared across files: the same image, the same index
    assert (dm.trials.image_index[:96].to_numpy() == dm.trials.image_index[96:].to_numpy()).all()
    assert set(dm.split_table().file) == {"sub1.h5", "sub2.h5"}
    # masks that differ: the common voxels are served
    drop = _second_subject(prepared_h5, tmp_path / "drop.h5", drop_voxel=True)
    both = BoldDataModule([prepared_h5, drop], split=split, cache="none")
    both.setup()
    assert both.mask.sum() == 439
    np.testing.assert_allclose(both.files.read(np.array([3, 99])), ref[[3, 3], 1:], atol=0)


def test_several_files_refuse_other_grids_and_repeated_runs(prepared_h5: Path,
                                                            tmp_path: Path) -> None:
    data = read_prepared(prepared_h5)
    data.mask = np.pad(data.mask, ((0, 1), (0, 0), (0, 0)))
    data.trials = data.trials.assign(subject=2)
    write_prepared(tmp_path / "other_grid.h5", data)
    with pytest.raises(InputError, match=r"other_grid.h5: grid \(13, 14, 12\) x 8 mm from "
                                         r"\(.*\) mm, native differs from .*tiny.h5's grid "
                                         r"\(12, 14, 12\) x 8 mm .*reference=mni152"):
        BoldDataModule([prepared_h5, tmp_path / "other_grid.h5"]).setup()
    copy = tmp_path / "copy.h5"
    copy.write_bytes(prepared_h5.read_bytes())
    with pytest.raises(InputError, match="subject 1 session 1 run 1 is also in another file"):
        BoldDataModule([prepared_h5, copy]).setup()
    with pytest.raises(InputError, match="no prepared file matches"):
        BoldDataModule(str(tmp_path / "nothing*.h5")).setup()


def test_two_file_cross_subject_run_trains(prepared_h5: Path, tmp_path: Path) -> None:
    two = _second_subject(prepared_h5, tmp_path / "sub2.h5")
    cfg = compose_config("train", [f"data.path=[{prepared_h5},{two}]", *TINY_TRAIN,
                                   "data/split=cross_subject", "data.split.train_subjects=[1]",
                                   "data.split.test_subjects=[2]"], tmp_path)
    metrics = train(cfg)
    assert np.isfinite(metrics["test/r2"])
    GlobalHydra.instance().clear()


def test_shard_rows_gives_equal_disjoint_shards() -> None:
    rows = np.arange(10, 17)  # 7 rows, 2 ranks: 4 each, one row served twice
    shards = [shard_rows(rows, r, 2) for r in (0, 1)]
    assert [len(s) for s in shards] == [4, 4]
    assert set(shards[0]) | set(shards[1]) == set(rows)
    assert len(set(shards[0]) & set(shards[1])) == 1
    assert shard_rows(rows, 0, 1) is rows
