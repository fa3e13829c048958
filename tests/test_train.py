"""Training composed in-process and through the console script, on the tiny synthetic data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bold5000_ae.cli.train import train
from bold5000_ae.utils.config import CONFIG_DIR
from tests.helpers.hydra import TINY_TRAIN, compose_config

EXPERIMENTS = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))


def test_fast_dev_run_in_process(train_cfg) -> None:
    cfg = train_cfg(["debug=fast_dev_run"])
    metrics = train(cfg)
    assert "test/r2" in metrics and "test/pearson_r" in metrics


def test_a_few_epochs_learn_and_write_outputs(train_cfg, tmp_path: Path) -> None:
    cfg = train_cfg(["trainer.max_epochs=6", "model.net.channels=[8,16]",
                     "model.net.latent_dim=16", "callbacks=default",
                     "~callbacks.progress_bar", "~callbacks.early_stopping",
                     "logger=default"])
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert metrics["test/r2"] > 0.0  # beats the training-mean volume
    written = json.loads((out / "metrics.json").read_text())
    # the baselines beside it, recomputed here from the file and split.csv: PCA with the latent
    # size on the training runs (normalised with their statistics), scored on the test run
    assert written["baseline/train_mean/test/r2"] == pytest.approx(0.0, abs=1e-6)
    assert written["baseline/pca_k/test/r2"] == pytest.approx(
        _pca_r2(Path(cfg.data.path), out / "split.csv", k=16), abs=1e-4)
    assert written["test/r2_minus_pca_k"] == pytest.approx(
        written["test/r2"] - written["baseline/pca_k/test/r2"])
    assert written["test/r2"] == pytest.approx(metrics["test/r2"])
    assert (out / "figures/reconstruction.png").stat().st_size > 10_000
    assert (out / "checkpoints/last.ckpt").is_file()
    assert (out / "csv/metrics.csv").is_file()
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))
    split = (out / "split.csv").read_text()
    assert "test" in split and "val" in split


def _pca_r2(h5_path: Path, split_csv: Path, k: int) -> float:
    import numpy as np
    import pandas as pd
    from sklearn.decomposition import PCA

    from bold5000_ae.data.hdf5_format import open_prepared, read_trials

    with open_prepared(h5_path) as h5:
        bold, trials = h5["bold"][()].astype(np.float64), read_trials(h5)
    side = trials.merge(pd.read_csv(split_csv), on=["subject", "session", "run"],
                        how="left")["split"].to_numpy()
    train, test = bold[side == "train"], bold[side == "test"]
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 1e-6, std, 1.0)
    train, test = (train - mean) / std, (test - mean) / std
    pca = PCA(n_components=k).fit(train)
    recon = pca.inverse_transform(pca.transform(test))
    return float(1 - np.mean((recon - test) ** 2) / np.mean(test ** 2))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_configs_compose(experiment: str, prepared_h5: Path, tmp_path: Path) -> None:
    cfg = compose_config("train", [f"experiment={experiment}", f"data.path={prepared_h5}"],
                         tmp_path)
    assert cfg.model._target_ and cfg.trainer._target_


@pytest.mark.subprocess
def test_console_script_end_to_end(prepared_h5: Path, tmp_path: Path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    cmd = [str(Path(sys.executable).with_name("bold5000-ae-train")), f"data.path={prepared_h5}",
           *TINY_TRAIN, "trainer.max_epochs=1"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test/r2" in done.stdout and "noise ceiling" in done.stdout
    assert "PCA-k R²" in done.stdout and "training mean R²" in done.stdout
    runs = list((tmp_path / "logs/train/runs").iterdir())
    assert len(runs) == 1 and (runs[0] / ".hydra/config.yaml").is_file()
    assert (runs[0] / "metrics.json").is_file()


@pytest.mark.subprocess
def test_console_script_bad_input_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [str(Path(sys.executable).with_name("bold5000-ae-train")),
           f"data.path={tmp_path / 'missing.h5'}"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'missing.h5'}")
    assert "Traceback" not in done.stderr
