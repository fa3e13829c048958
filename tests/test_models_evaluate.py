"""``bold5000-ae-eval``: a finished run is rebuilt from its saved config and checkpoint, and
its encoder evaluated as a fixed feature extractor on its own file and on another file, also
one on another grid (resampled onto the encoder's grid and mask)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
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
    big = np.ones((8, 8, 8), bool)
    resampled = onto_mask(np.ones((1, 64), np.float32), np.ones((4, 4, 4), bool), big)
    np.testing.assert_allclose(resampled, 1.0)  # a constant stays constant
