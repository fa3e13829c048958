"""``bold5000-ae-eval``: a finished run is rebuilt from its saved config and checkpoint.

- ``mode=test`` (default): the checkpoint's test metrics plus the reconstruction baselines on
  the same rows, run as documented (README.md, docs/workflows.md), verbatim, through the console
  script, on the newest run under ``$PROJECT_ROOT/logs/train/runs``;
- ``mode=transfer``: the read-out beside its baselines, scoring only runs the AE never saw.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf, open_dict

from bold5000_ae.cli.eval import evaluate
from bold5000_ae.cli.train import train
from bold5000_ae.evaluation.readout import onto_mask
from tests.helpers.hydra import TINY_TRAIN, compose_config

# one xdist worker runs this module: its module-scoped finished_run is built once
pytestmark = pytest.mark.xdist_group("models_evaluate")

# the commands README.md and docs/workflows.md show, exactly
DOCUMENTED = [".venv/bin/bold5000-ae-eval"]
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def finished_run(prepared_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained AE in ``<tmp>/logs/train/runs/<time>``, as bold5000-ae-train leaves it."""
    tmp_path = tmp_path_factory.mktemp("root")
    run_dir = tmp_path / "logs" / "train" / "runs" / "2020-01-01_00-00-00"
    base = [o for o in TINY_TRAIN if not o.startswith("callbacks=")]
    cfg = compose_config("train", [f"data.path={prepared_h5}", *base, "~callbacks.progress_bar",
                                   "~callbacks.early_stopping"], tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    metrics = train(cfg)
    (run_dir / ".hydra").mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create({k: cfg[k] for k in cfg if k != "hydra"}),
                   run_dir / ".hydra" / "config.yaml")
    (run_dir / "train_metrics.json").write_text(json.dumps(metrics))
    return run_dir


@pytest.mark.subprocess
def test_documented_eval_commands_give_test_metrics_and_baselines(finished_run: Path) -> None:
    root = finished_run.parents[3]
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root)}
    trained = json.loads((finished_run / "train_metrics.json").read_text())
    for command in DOCUMENTED:
        args = shlex.split(command)
        for doc in ("README.md", "docs/workflows.md"):
            assert f"\n{command}\n" in (REPO / doc).read_text(), (doc, command)
        done = subprocess.run([str(BIN / Path(args[0]).name), *args[1:]], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        split = "test"
        wrote = [ln for ln in done.stdout.splitlines() if ln.startswith("[eval] wrote ")]
        assert wrote, done.stdout[-2000:]
        out = json.loads(Path(wrote[-1].removeprefix("[eval] wrote ")).read_text())
        assert "epoch_" in done.stdout  # it said which checkpoint: the tested (best) one
        assert out[f"baseline/train_mean/{split}/r2"] == pytest.approx(0.0, abs=1e-6)
        for key in (f"{split}/r2", f"{split}/mse", f"baseline/pca_k/{split}/r2"):
            assert math.isfinite(out[key]), key
        # the same checkpoint and rows as the training run's own test
        assert out["test/r2"] == pytest.approx(trained["test/r2"], abs=1e-5)
        assert out["baseline/pca_k/test/r2"] == pytest.approx(
            trained["baseline/pca_k/test/r2"], abs=1e-6)


def test_eval_on_the_validation_split(finished_run: Path, tmp_path: Path) -> None:
    cfg = compose_config("eval", ["split=val", f"run_config={finished_run / '.hydra/config.yaml'}",
                                  f"checkpoint='{finished_run / 'checkpoints' / 'last.ckpt'}'"],
                         tmp_path)
    out = evaluate(cfg)
    assert "test/r2" not in out and math.isfinite(out["val/r2"])
    assert out["baseline/train_mean/val/r2"] == pytest.approx(0.0, abs=1e-6)
    assert json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text()) == out


def test_transfer_mode_scores_only_runs_the_autoencoder_never_saw(finished_run: Path,
                                                                  prepared_h5: Path,
                                                                  tmp_path: Path) -> None:
    eval_cfg = compose_config("eval", [
        "mode=transfer", "evaluation.classification.n_permutations=3",
        "evaluation.classification.c_features=[0.1]", "evaluation.classification.c_raw=[0.001]",
        "evaluation.classification.n_boot=10", "evaluation.classification.untrained_inits=2",
        f"run_config={finished_run / '.hydra' / 'config.yaml'}",
        f"checkpoint='{next((finished_run / 'checkpoints').glob('epoch_*.ckpt'))}'"],
        tmp_path / "eval")
    with open_dict(eval_cfg):
        eval_cfg.evaluation.other_files = {"again": str(prepared_h5)}
    metrics = evaluate(eval_cfg)
    split = pd.read_csv(finished_run / "split.csv")
    held_out_runs = int((split["split"] != "train").sum())
    assert metrics["cv/n_groups"] == held_out_runs  # the AE's training runs are not scored
    assert metrics["transfer/again/n_groups"] == len(split)  # another file: every run
    for prefix in ("cv", "transfer/again"):
        for name in ("encoder", "untrained", "pca_k", "random_projection", "raw_voxels"):
            lo, auc, hi = (metrics[f"{prefix}/{name}/auc{s}"] for s in ("_ci_low", "", "_ci_high"))
            assert lo <= auc <= hi, (prefix, name)
        assert math.isfinite(metrics[f"{prefix}/trained_minus_untrained/auc"])
        assert 0 < metrics[f"{prefix}/encoder/p_value"] <= 1
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
