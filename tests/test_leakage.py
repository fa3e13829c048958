"""No trial, run or (with image_disjoint) image presentation on both sides of a split; the
datamodule serves the split with normalisation fitted on training rows only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.data.datamodule import BoldDataModule
from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.data.splits import GroupHoldoutSplit


def _sides(values: np.ndarray, assignment: np.ndarray) -> dict[str, set]:
    return {name: set(values[assignment == name]) for name in ("train", "val", "test")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_trial_or_run_on_two_sides(prepared_h5: Path, seed: int) -> None:
    trials = read_prepared(prepared_h5).trials
    assignment = GroupHoldoutSplit(seed=seed).assign(trials)
    runs = (trials.session * 100 + trials.run).to_numpy()
    trial_ids = (trials.session * 10000 + trials.run * 100 + trials.trial).to_numpy()
    for ids in (runs, trial_ids):
        sides = _sides(ids, assignment)
        assert not sides["train"] & sides["val"]
        assert not sides["train"] & sides["test"]
        assert not sides["val"] & sides["test"]
    assert len(_sides(runs, assignment)["test"]) == 1
    assert len(_sides(runs, assignment)["val"]) == 1


def test_image_disjoint_split(prepared_h5: Path) -> None:
    trials = read_prepared(prepared_h5).trials
    plain = GroupHoldoutSplit(seed=0).assign(trials)
    images = trials.image_index.to_numpy()
    sides = _sides(images, plain)
    assert sides["train"] & sides["test"], "the tiny data repeats images across runs"
    disjoint = GroupHoldoutSplit(seed=0, image_disjoint=True).assign(trials)
    sides = _sides(images, disjoint)
    assert not sides["train"] & sides["test"] and not sides["train"] & sides["val"]
    assert (disjoint == "excluded").sum() > 0


def test_normalisation_uses_training_rows_only(prepared_h5: Path) -> None:
    dm = BoldDataModule(prepared_h5, batch_size=4)
    dm.setup()
    bold = read_prepared(prepared_h5).bold
    train = bold[dm.assignment == "train"]
    np.testing.assert_allclose(dm.mean, train.mean(0), atol=1e-5)
    np.testing.assert_allclose(dm.std, train.std(0), rtol=1e-4)
    served = torch.cat([b["bold"] for b in dm.train_dataloader()])
    assert served.shape == train.shape
    np.testing.assert_allclose(served.mean(0).numpy(), 0.0, atol=1e-4)
    test = torch.cat([b["bold"] for b in dm.test_dataloader()]).numpy()
    assert abs(test.mean()) > 1e-4  # test rows are not re-centred on their own statistics


def test_two_workers_match_in_process(prepared_h5: Path) -> None:
    """cache=none with 2 worker processes: each opens its own file handle, same batches."""
    results = []
    for workers in (0, 2):
        dm = BoldDataModule(prepared_h5, batch_size=8, cache="none", num_workers=workers,
                            include_images=True)
        dm.setup()
        batches = list(dm.val_dataloader())
        assert dm.datasets["val"]._h5 is None or workers == 0
        results.append(torch.cat([b["bold"] for b in batches]))
        assert set(batches[0]) >= {"bold", "label", "image", "subject", "run", "trial"}
        assert batches[0]["image"].shape[1:] == (3, 16, 16)
    torch.testing.assert_close(results[0], results[1])
    ram = BoldDataModule(prepared_h5, batch_size=8, cache="ram")
    ram.setup()
    torch.testing.assert_close(torch.cat([b["bold"] for b in ram.val_dataloader()]), results[0])
