"""Harm done for real: a killed run resumes, NaN stops the run, checkpoints survive a crash
mid-save, pickled code is refused, same seed gives the same metrics, no secret is written."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.training.checkpoint_io import AtomicCheckpointIO
from bold5000_ae.utils.errors import InputError

TRAIN = str(Path(sys.executable).with_name("bold5000-ae-train"))
RUN_ARGS = ["trainer=cpu", "data.batch_size=8", "model.net.channels=[4,8]",
            "model.net.latent_dim=8", "logger=csv", "~callbacks.progress_bar",
            "~callbacks.early_stopping", "trainer.enable_progress_bar=false", "seed=7",
            "trainer.deterministic=true"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _epochs_logged(run_dir: Path) -> int:
    with open(run_dir / "csv/metrics.csv") as handle:
        return len({row["epoch"] for row in csv.DictReader(handle) if row.get("train/loss")})


@pytest.mark.subprocess
@pytest.mark.slow
def test_sigkill_mid_training_then_resume_matches_uninterrupted(prepared_h5: Path,
                                                                tmp_path: Path) -> None:
    epochs = 4
    base = [TRAIN, f"data.path={prepared_h5}", *RUN_ARGS, f"trainer.max_epochs={epochs}"]
    killed_dir = tmp_path / "killed"
    proc = subprocess.Popen([*base, f"hydra.run.dir={killed_dir}"], env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed_dir / "checkpoints/last.ckpt"
    deadline = time.time() + 240
    while not last.is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.is_file(), "the run never wrote a checkpoint"
    saved_epoch = torch.load(last, weights_only=True)["epoch"]
    assert saved_epoch < epochs - 1, "killed too late to test resumption"
    assert not (killed_dir / "metrics.json").exists()

    resumed = subprocess.run([*base, f"hydra.run.dir={killed_dir}", "ckpt_path=last"],
                             env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    whole_dir = tmp_path / "whole"
    whole = subprocess.run([*base, f"hydra.run.dir={whole_dir}"], env=_env(tmp_path),
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    resumed_ckpt = torch.load(last, weights_only=True)
    whole_ckpt = torch.load(whole_dir / "checkpoints/last.ckpt", weights_only=True)
    assert resumed_ckpt["epoch"] == whole_ckpt["epoch"] == epochs - 1
    assert resumed_ckpt["global_step"] == whole_ckpt["global_step"]
    assert _epochs_logged(whole_dir) == epochs


    a = json.loads((killed_dir / "metrics.json").read_text())
    b = json.loads((whole_dir / "metrics.json").read_text())
    # the shuffling order after resumption differs, so equal within tolerance, not bit-exact
    assert a["test/r2"] == pytest.approx(b["test/r2"], abs=0.1)


def test_nan_loss_stops_naming_step_and_checkpoint(train_cfg, capsys) -> None:
    cfg = train_cfg(["callbacks=default", "~callbacks.progress_bar", "~callbacks.early_stopping",
                     "callbacks.finite_loss.check_every_n_steps=1", "trainer.max_epochs=4",
                     "model.optimizer.lr=1e30", "model.optimizer.weight_decay=0"])
    with pytest.raises(SystemExit) as stop:
        train(cfg)
    assert stop.value.code == 3
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: training loss became NaN or Inf at step ")
    assert "Last good checkpoint:" in line
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_crash_mid_checkpoint_keeps_previous(tmp_path: Path, monkeypatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)
    before = path.read_bytes()

    def dying_save(obj, target, *args, **kwargs):
        Path(target).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(InputError, match="no space left on device while writing; the partial"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


class _Payload:
    """Unpickling this would create a file: what a malicious checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_checkpoint_with_pickled_code_is_refused(train_cfg, tmp_path: Path, capsys) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Payload(marker)}, evil)
    cfg = train_cfg([f"ckpt_path={evil}"])
    with pytest.raises(SystemExit) as stop:
        train(cfg)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {evil}: cannot load as a weights-only checkpoint")
    assert not marker.exists()


def test_checkpoint_of_other_architecture_is_refused(train_cfg, capsys) -> None:
    first = train_cfg(["trainer.max_epochs=1", "callbacks=default", "~callbacks.progress_bar"])
    train(first)
    ckpt = Path(first.paths.output_dir) / "checkpoints/last.ckpt"
    other = train_cfg([f"ckpt_path={ckpt}", "model.net.channels=[4,16]"])
    with pytest.raises(SystemExit) as stop:
        train(other)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {ckpt}: architecture mismatch")


def test_same_seed_same_metrics(train_cfg, tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        cfg = train_cfg(["seed=11", "trainer.deterministic=true", "trainer.max_epochs=2"])
        runs.append(train(cfg))
        shutil.move(cfg.paths.output_dir, tmp_path / f"run{i}")  # a folder holds one run
    assert runs[0]["test/r2"] == pytest.approx(runs[1]["test/r2"], rel=1e-6, abs=1e-7)
    assert runs[0]["test/mse"] == pytest.approx(runs[1]["test/mse"], rel=1e-6)


@pytest.mark.subprocess
def test_offline_wandb_and_no_secret_written(prepared_h5: Path, tmp_path: Path) -> None:
    """wandb offline by default: finishes with no network; keys from the environment never
    reach configs, logs or outputs."""
    secret = "wandb-key-0123456789abcdef0123456789abcdef"
    env = _env(tmp_path)
    env.pop("WANDB_MODE")
    env.update({"WANDB_API_KEY": secret, "HF_TOKEN": "hf_secret_token_value",
                "HTTPS_PROXY": "http://127.0.0.1:9"})  # any network attempt would fail fast
    run_dir = tmp_path / "run"
    done = subprocess.run([TRAIN, f"data.path={prepared_h5}", *RUN_ARGS, "logger=wandb",
                           "trainer.max_epochs=1", f"hydra.run.dir={run_dir}"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list(run_dir.glob("wandb/offline-run-*")), "wandb did not write an offline run"
    for path in run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data, path
            assert b"hf_secret_token_value" not in data, path
    assert secret not in done.stdout + done.stderr


@pytest.mark.subprocess
def test_max_epochs_zero_is_marked_untrained(prepared_h5: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run([TRAIN, f"data.path={prepared_h5}", *RUN_ARGS, "trainer.max_epochs=0",
                           f"hydra.run.dir={run_dir}"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "untrained" and metrics["trained_steps"] == 0
    assert "status           untrained" in done.stdout


def test_an_untrained_job_is_listed_but_never_ranked(tmp_path: Path) -> None:
    """max_epochs=0 in a sweep: the job's metrics.json says untrained; the report lists it with
    that status and ranks only the trained configuration."""
    from bold5000_ae.report import ReportSettings, build_report

    root = tmp_path / "sweep"
    for num, (loss, status, r2) in enumerate([("mse", "finished", 0.2), ("l1", "untrained", 0.9)]):
        job = root / str(num)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(f"- model/loss={loss}\n")
        (job / "metrics.json").write_text(json.dumps({"test/r2": r2, "status": status}))
    report = build_report(root, ReportSettings(metrics=["test/r2"], rank_by="test/r2"))
    summary = report.files["summary.md"].read_text()
    assert "2 jobs, 0 failed, 1 untrained (not ranked)" in summary
    assert "model/loss=mse" in summary and "model/loss=l1" not in summary
    runs = report.files["runs.md"].read_text()
    assert "| 1 | `model/loss=l1` |" in runs and "untrained" in runs
