"""Every cache mode serves the same batches; the device cache shuffles, shards and keeps float16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.gpu_cache import DeviceBatches, DeviceSplit
from bold5000_ae.data.hdf5_format import read_prepared, write_prepared
from bold5000_ae.utils.errors import InputError
from tests.helpers.hydra import TINY_TRAIN, compose_config

# one xdist worker runs this module: its module-scoped prepared_f16 is built once
pytestmark = pytest.mark.xdist_group("datamodule_cache")

MODES = ("none", "ram", "gpu")


@pytest.fixture(scope="module")
def prepared_f16(prepared_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("f16") / "tiny_f16.h5"
    write_prepared(out, read_prepared(prepared_h5), bold_dtype="float16")
    return out


def _all_batches(dm: BoldDataModule, name: str) -> dict[str, torch.Tensor]:
    """Every batch of a split, concatenated and ordered by sample row."""
    loader = {"train": dm.train_dataloader, "val": dm.val_dataloader,
              "test": dm.test_dataloader}[name]()
    batches = list(loader)
    assert all(len(b["bold"]) <= dm.batch_size for b in batches)
    out = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
    order = torch.argsort(out["index"])
    return {k: v[order] for k, v in out.items()}


def _module(path: Path, cache: str, **kwargs) -> BoldDataModule:
    dm = BoldDataModule(path, batch_size=7, cache=cache, **kwargs)
    dm.setup()
    return dm


@pytest.mark.parametrize("name", ["train", "val"])
def test_all_cache_modes_serve_identical_batches(prepared_h5: Path, name: str) -> None:
    ref = _all_batches(_module(prepared_h5, "ram", include_images=True), name)
    for mode in ("none", "gpu"):
        got = _all_batches(_module(prepared_h5, mode, include_images=True), name)
        assert got.keys() == ref.keys()
        for key in ref:
            assert got[key].dtype == ref[key].dtype, (mode, key)
            torch.testing.assert_close(got[key], ref[key], rtol=1e-5, atol=1e-5)
    assert ref["bold"].dtype == torch.float32 and ref["image"].shape[1] == 3


def test_loader_batches_match_per_item_dataset(prepared_h5: Path) -> None:
    dm = _module(prepared_h5, "ram")
    first = next(iter(dm.val_dataloader()))
    items = [dm.datasets["val"][i] for i in range(len(first["bold"]))]
    for key in first:
        torch.testing.assert_close(first[key], torch.stack([it[key] for it in items]))


def test_gpu_cache_keeps_float16_storage_and_serves_float32(prepared_f16: Path) -> None:
    dm = _module(prepared_f16, "gpu")
    split = dm.device_split("train")
    assert split.bold.dtype == torch.float16
    got = _all_batches(dm, "train")
    ref = _all_batches(_module(prepared_f16, "ram"), "train")
    assert got["bold"].dtype == torch.float32
    torch.testing.assert_close(got["bold"], ref["bold"], rtol=1e-5, atol=1e-5)
    # normalised with training statistics: per-voxel mean ~0 over the training split
    assert got["bold"].mean(0).abs().max() < 1e-2


def test_device_batches_shuffle_per_epoch_and_shard_by_rank() -> None:
    n, v = 23, 4
    split = DeviceSplit(np.arange(n * v, dtype=np.float32).reshape(n, v), np.arange(n),
                        {"label": np.zeros(n)}, np.zeros(v), np.ones(v), None, "cpu")
    loader = DeviceBatches(split, batch_size=5, shuffle=True, seed=1)
    epochs = [torch.cat([b["index"] for b in loader]) for _ in range(2)]
    assert len(loader) == 5
    for seen in epochs:
        assert sorted(seen.tolist()) == list(range(n))
    assert not torch.equal(epochs[0], epochs[1])
    ranks = [DeviceBatches(split, 5, True, seed=1, rank=r, world_size=2) for r in (0, 1)]
    seen = [torch.cat([b["index"] for b in r]) for r in ranks]
    assert len(ranks[0]) == len(ranks[1]) and len(seen[0]) == len(seen[1]) == n // 2
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    assert len(DeviceBatches(split, 5, False, drop_last=True)) == 4


def test_bad_cache_mode_and_pin_memory_are_refused(prepared_h5: Path) -> None:
    with pytest.raises(InputError, match="cache"):
        BoldDataModule(prepared_h5, cache="disk")
    with pytest.raises(InputError, match="pin_memory"):
        BoldDataModule(prepared_h5, pin_memory="yes")
    dm = _module(prepared_h5, "ram")
    assert dm.train_dataloader().pin_memory is (dm._device().type == "cuda")


def test_fast_gpu_experiment_trains_on_cpu(prepared_h5: Path, tmp_path: Path) -> None:
    """experiment=fast_gpu composes every fast switch; on a CPU (accelerator overridden, compile
    off to stay fast) it trains through the device cache with bf16 autocast."""
    tiny = [o for o in TINY_TRAIN if not o.startswith("trainer=")]
    cfg = compose_config("train", [f"data.path={prepared_h5}", *tiny, "debug=fast_dev_run",
                                   "experiment=fast_gpu", "trainer.accelerator=cpu",
                                   "model.compile=false"], tmp_path)
    assert cfg.data.cache == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.benchmark is True
    metrics = train(cfg)
    assert np.isfinite(metrics["test/r2"])
