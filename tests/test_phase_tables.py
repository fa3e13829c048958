"""experiments/phase_tables.py: a phase README's table from one run's metrics.json, every number
beside its baselines and CIs, and the README block it replaces (nothing else)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from experiments import phase_tables

READOUT = {  # as the evaluation callback logs them (eval/ prefix), hand-picked values
    "eval/cv/encoder/auc": 0.586, "eval/cv/encoder/auc_ci_low": 0.489,
    "eval/cv/encoder/auc_ci_high": 0.726, "eval/cv/encoder/p_value": 0.198,
    "eval/cv/untrained/auc": 0.636, "eval/cv/untrained/auc_ci_low": 0.534,
    "eval/cv/untrained/auc_ci_high": 0.749, "eval/cv/untrained/n_inits": 3.0,
    "eval/cv/pca_k/auc": 0.651, "eval/cv/pca_k/auc_ci_low": 0.551,
    "eval/cv/pca_k/auc_ci_high": 0.769,
    "eval/cv/raw_voxels/auc": 0.662, "eval/cv/raw_voxels/auc_ci_low": 0.561,
    "eval/cv/raw_voxels/auc_ci_high": 0.787,
    "eval/cv/oracle/auc": 0.701, "eval/cv/oracle/auc_ci_low": 0.61,
    "eval/cv/oracle/auc_ci_high": 0.80,
    "eval/cv/trained_minus_untrained/auc": -0.05,
    "eval/cv/trained_minus_untrained/auc_ci_low": -0.117,
    "eval/cv/trained_minus_untrained/auc_ci_high": 0.028,
    "eval/cv/n_samples": 222.0, "eval/cv/n_units": 74.0, "eval/cv/n_groups": 2.0,
    "test/auc": 0.611, "eval/cv/encoder/test_run_fold_auc": 0.603}


def _run(tmp_path: Path, metrics: dict) -> Path:
    run = tmp_path / "logs" / "phase3_transfer" / "runs" / "t"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(
        ["experiment=phase3_transfer", "model.pretrained=x.ckpt"]))
    (run / ".hydra" / "config.yaml").write_text("data: {path: data/processed/synthetic.h5}\n")
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_phase3_table_shows_every_readout_with_its_ci_and_the_p(tmp_path: Path) -> None:
    block = phase_tables.render("phase3", _run(tmp_path, READOUT))
    assert "| **0.586 [0.489, 0.726]**, trial-level p = 0.198 |" in block
    for cell in ("0.636 [0.534, 0.749]", "0.651 [0.551, 0.769]", "0.662 [0.561, 0.787]",
                 "0.701 [0.610, 0.800]", "**-0.050 [-0.117, +0.028]**"):
        assert cell in block, cell
    assert "222 volumes, 74 trials, 2 runs" in block
    assert "random Gaussian projection" not in block  # not recorded: no row
    # the verdict: the encoder is below untrained, PCA-k and raw voxels, CI includes 0
    assert "includes 0" in block and "p > 0.05" in block
    assert "untrained encoder" in block.split("Trained encoder:")[1]
    assert ("`make phase3 ARGS=\"model.pretrained=x.ckpt\"` (= `bold5000-ae-train "
            "experiment=phase3_transfer model.pretrained=x.ckpt`)") in block


def test_a_readout_above_the_oracle_is_flagged_and_the_oracle_not_called_a_bound(
        tmp_path: Path) -> None:
    below = phase_tables.render("phase3", _run(tmp_path / "a", READOUT))
    assert "Above the linear oracle" not in below
    above = phase_tables.render("phase3", _run(tmp_path / "b", {
        **READOUT, "eval/cv/encoder/auc": 0.971, "eval/cv/raw_voxels/auc": 0.72}))
    flag = above.split("**Above the linear oracle (0.701):**")[1]
    assert "trained encoder latent 0.971" in flag and "raw in-mask voxels 0.720" in flag
    assert "PCA" not in flag.split(". The oracle")[0] and "shrunk full within-class" in flag


def test_reconstruction_table_says_when_the_model_loses_to_pca(tmp_path: Path) -> None:
    metrics = {"test/r2": 0.30, "test/mse": 0.70, "baseline/train_mean/test/r2": 0.0,
               "baseline/train_mean/test/mse": 1.0, "baseline/pca_k/test/r2": 0.45,
               "baseline/pca_k/test/mse": 0.55, "baseline/pca_k/k": 64.0,
               "baseline/ceiling/test/r2": 0.5, "test/r2_minus_pca_k": -0.15}
    block = phase_tables.render("phase1", _run(tmp_path, metrics))
    assert "| R² vs the training mean | **0.300** | 0.000 | 0.450 | 0.500 |" in block
    assert "PCA-k (k = 64)" in block and "**loses to PCA-k**" in block


def test_write_replaces_only_the_marked_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{phase_tables.BEGIN}\nold\n{phase_tables.END}\n"
                      "\nafter\n")
    phase_tables.write_block(readme, f"{phase_tables.BEGIN}\nnew\n{phase_tables.END}\n")
    assert readme.read_text() == (f"# title\n\nbefore\n\n{phase_tables.BEGIN}\nnew\n"
                                  f"{phase_tables.END}\n\nafter\n")
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(SystemExit):
        phase_tables.write_block(tmp_path / "plain.md", "x")
