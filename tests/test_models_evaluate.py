"""``bold5000-ae-eval``: a finished run is rebuilt from its saved config and checkpoint, and
its encoder evaluated as a fixed feature extractor on its own file and on another file, also
one on another grid (resampled onto the encoder's grid and mask)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf, open_dict

from bold5000_ae.cli.eval import evaluate, onto_mask
from bold5000_ae.cli.train import train
from tests.helpers.hydra import compose_config


def test_eval_cli_rebuilds_a_run_and_scores_other_files(train_cfg, prepared_h5: Path,
                                                         tmp_path: Path) -> None:
    cfg = train_cfg(["trainer.max_epochs=1"])
    train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    OmegaConf.save(cfg, run_dir / "run_config.yaml")
    ckpt = next(run_dir.rglob("*.ckpt"))
    eval_cfg = compose_config("eval", [f"checkpoint='{ckpt}'",  # the name holds '='
                                       f"run_config={run_dir / 'run_config.yaml'}",
                                       "evaluation.classification.n_permutations=5"],
                              tmp_path / "eval")
    with open_dict(eval_cfg):
        eval_cfg.evaluation.other_files = {"again": str(prepared_h5)}
    metrics = evaluate(eval_cfg)
    for prefix in ("cv", "transfer/again"):
        for key in ("encoder/auc", "encoder/p_value", "raw_voxels/auc", "oracle_auc_volume"):
            assert math.isfinite(metrics[f"{prefix}/{key}"]), f"{prefix}/{key}"
    # the same file through both doors gives the same numbers
    assert metrics["cv/encoder/auc"] == metrics["transfer/again/encoder/auc"]
    assert (Path(eval_cfg.paths.output_dir) / "evaluation.json").is_file()


def test_onto_mask_remasks_and_resamples() -> None:
    mask = np.zeros((4, 4, 4), bool)
    mask[1:3, 1:3, 1:3] = True
    other = mask.copy()
    other[0, 0, 0] = True
    x = np.arange(8, dtype=np.float32)[None]
    same = onto_mask(x, mask, other)
    assert same.shape == (1, 9) and same[0, 0] == 0 and sorted(same[0, 1:]) == list(range(8))
    with pytest.raises(ValueError, match="both affines"):
        onto_mask(x, mask, np.ones((8, 8, 8), bool))


def test_onto_mask_resamples_in_world_coordinates() -> None:
    """A hot voxel lands where it is in millimetres, whatever the voxel size or origin: by array
    shape alone (the old F.interpolate) the 2 mm → 1 mm case smears it over two voxels and the
    shifted-origin case does not move it at all."""
    src_mask, hot = np.ones((6, 6, 6), bool), np.zeros((6, 6, 6), np.float32)
    hot[2, 3, 1] = 1.0  # world (4, 6, 2) mm under a 2 mm grid at the origin
    bold = hot.reshape(1, -1)
    two_mm, one_mm = np.diag([2.0, 2.0, 2.0, 1.0]), np.diag([1.0, 1.0, 1.0, 1.0])
    fine = onto_mask(bold, src_mask, np.ones((12, 12, 12), bool), two_mm, one_mm)
    fine = fine.reshape(12, 12, 12)
    assert fine[4, 6, 2] == pytest.approx(1.0) and fine.argmax() == np.ravel_multi_index(
        (4, 6, 2), (12, 12, 12))
    shifted = two_mm.copy()
    shifted[0, 3] = 2.0  # same shape, origin 2 mm further along x
    moved = onto_mask(bold, src_mask, src_mask, two_mm, shifted).reshape(6, 6, 6)
    assert moved[1, 3, 1] == pytest.approx(1.0) and moved.sum() == pytest.approx(1.0)
