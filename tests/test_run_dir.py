"""A run folder belongs to one run: locks, refusals that touch nothing,
preemption by real signals, history kept across resumption, finished sweep jobs skipped.
Everything through the console scripts, as a user runs them."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bold5000_ae.utils.locks import acquire, release

# one xdist worker runs this module: its module-scoped trained_run is built once
pytestmark = [pytest.mark.subprocess, pytest.mark.xdist_group("run_dir")]

BIN = Path(sys.executable).parent
TINY = ["trainer=cpu", "data.batch_size=8", "model.net.channels=[4,8]", "model.net.latent_dim=8",
        "logger=csv", "~callbacks.progress_bar", "~callbacks.early_stopping",
        "trainer.enable_progress_bar=false", "seed=7"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _run(script: str, args: list[str], tmp_path: Path, timeout: int = 300
         ) -> subprocess.CompletedProcess:
    merged = dict(a.split("=", 1) if "=" in a else (a, None) for a in args)  # later key wins
    args = [k if v is None else f"{k}={v}" for k, v in merged.items()]
    return subprocess.run([str(BIN / script), *args], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file's content hash, the lock file aside (taking a lock is not damage)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def trained_run(prepared_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run; tests copy it before harming it."""
    root = tmp_path_factory.mktemp("trained")
    run = root / "run"
    done = _run("bold5000-ae-train", [f"data.path={prepared_h5}", *TINY, "trainer.max_epochs=2",
                                      f"hydra.run.dir={run}"], root)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "run"
    shutil.copytree(run, target)
    return target


def test_second_prepare_into_one_output_is_refused_naming_the_holder(synthetic_raw: Path,
                                                                     tmp_path: Path) -> None:
    output = tmp_path / "x.h5"
    acquire(output, "prepared file")  # this test process plays the first prepare
    try:
        done = _run("bold5000-ae-prepare", [f"source.root={synthetic_raw}", f"output={output}"],
                    tmp_path)
    finally:
        release(output)
    assert done.returncode == 2, done.stderr[-2000:]
    line = _last_line(done)
    assert line.startswith(f"error: {output}: prepared file is being written by PID "
                           f"{os.getpid()}"), line
    assert not output.exists() and not output.with_name("x.h5.parts").exists()


def test_second_synth_into_one_folder_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    acquire(out, "synthetic dataset")
    try:
        done = _run("bold5000-ae-synth", [f"output_dir={out}"], tmp_path)
    finally:
        release(out)
    assert done.returncode == 2 and f"PID {os.getpid()}" in _last_line(done), done.stderr
    assert not out.exists() and not out.with_name("synthetic.new").exists()


@pytest.mark.parametrize("harm,args,problem", [
    ("none", ["model.net.latent_dim=16", "ckpt_path=last"],
     "cannot resume: changed since this run trained: model.net.latent_dim 8 → 16"),
    ("truncate", ["auto_resume=true"], "cannot load as a weights-only checkpoint"),
    ("lock", ["ckpt_path=last"], "run folder is being written by PID"),
])
def test_refused_resume_leaves_the_run_untouched(harm: str, args: list[str], problem: str,
                                                 trained_run: Path, prepared_h5: Path,
                                                 tmp_path: Path) -> None:
    run = _copy(trained_run, tmp_path)
    if harm == "truncate":  # a killed run (no metrics.json) whose last save was cut short
        (run / "metrics.json").unlink()
        last = run / "checkpoints/last.ckpt"
        last.write_bytes(last.read_bytes()[:5000])
    if harm == "lock":
        acquire(run, "run folder", inside=True)
    before = _snapshot(run)
    try:
        done = _run("bold5000-ae-train", [f"data.path={prepared_h5}", *TINY,
                                          "trainer.max_epochs=3", f"hydra.run.dir={run}", *args],
                    tmp_path)
    finally:
        release(run, inside=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert problem in _last_line(done) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert _snapshot(run) == before  # config.yaml, metrics.csv, checkpoints: all as they were


def _steps(run: Path) -> list[int]:
    with open(run / "csv/metrics.csv") as handle:
        return [int(r["step"]) for r in csv.DictReader(handle) if r.get("train/loss")]


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it: a process started from a non-interactive parent (a test
    worker, a background job) may inherit SIGINT ignored, and Python then installs no
    KeyboardInterrupt handler, so the signal would be lost, not tested."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_and_signal(prepared_h5: Path, run: Path, tmp_path: Path,
                      sig: signal.Signals) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([str(BIN / "bold5000-ae-train"), f"data.path={prepared_h5}", *TINY,
                             "trainer.max_epochs=200", f"hydra.run.dir={run}"],
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint)
    deadline = time.time() + 240
    while not (run / "checkpoints/last.ckpt").is_file() and time.time() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(prepared_h5: Path,
                                                            tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _start_and_signal(prepared_h5, run, tmp_path, signal.SIGTERM)
    assert done.returncode == 143, done.stderr[-2000:]
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "preempted" and status["checkpoint"] == "checkpoints/last.ckpt"
    assert "ckpt_path=last" in status["resume"] and f"hydra.run.dir={run}" in status["resume"]
    assert _last_line(done).startswith("error: preempted (SIGTERM) at epoch ")
    assert not (run / "metrics.json").exists()
    saved = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert saved["global_step"] == status["global_step"] > 0
    before = _steps(run)
    # resume to the epoch after the one that was stopped: the history is kept and continued
    resumed = _run("bold5000-ae-train", [f"data.path={prepared_h5}", *TINY, "ckpt_path=last",
                                         f"trainer.max_epochs={status['epoch'] + 2}",
                                         f"hydra.run.dir={run}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    after = _steps(run)
    kept = [s for s in before if s < saved["global_step"]]
    assert after[:len(kept)] == kept and len(kept) > 0
    assert after == sorted(set(after)), "a step was logged twice"
    assert max(after) > saved["global_step"]
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"


def test_sigint_prints_the_resume_command(prepared_h5: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _start_and_signal(prepared_h5, run, tmp_path, signal.SIGINT)
    assert done.returncode == 130, done.stderr[-2000:]
    assert f"hydra.run.dir={run} ckpt_path=last" in done.stderr
    assert "Resume with:" in done.stderr
    assert json.loads((run / "status.json").read_text())["status"] == "interrupted"


def test_sweep_rerun_with_auto_resume_skips_finished_jobs(prepared_h5: Path,
                                                          tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", f"data.path={prepared_h5}", *TINY, "trainer.max_epochs=1", "auto_resume=true",
            "test=false", "model.net.latent_dim=4,8", f"hydra.sweep.dir={sweep}"]
    first = _run("bold5000-ae-train", args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    jobs = [sweep / "0", sweep / "1"]
    before = [_snapshot(job) for job in jobs]
    again = _run("bold5000-ae-train", args, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already finished") == 2
    for job, snap in zip(jobs, before, strict=True):
        after = _snapshot(job)
        for name in ("metrics.json", "csv/metrics.csv", "checkpoints/last.ckpt"):
            assert after[name] == snap[name], (job, name)
    # the same folders with another model: Hydra rewrites each job's .hydra/ before the job
    # runs, so the check must compare with the config the run trained with, and put it back
    config = (jobs[0] / ".hydra" / "config.yaml").read_text()
    changed = _run("bold5000-ae-train", [*args[:-2], "model.net.latent_dim=16,8",
                                         args[-1]], tmp_path)
    assert changed.returncode != 0  # a failed job makes the multirun fail
    assert ("cannot skip a finished run: changed since this run trained: model.net.latent_dim 4 "
            "→ 16") in json.loads((jobs[0] / "failed.json").read_text())["error"]
    assert (jobs[0] / ".hydra" / "config.yaml").read_text() == config
    assert _snapshot(jobs[0])["metrics.json"] == before[0]["metrics.json"]
    assert not (jobs[1] / "failed.json").exists() and changed.stdout.count("already finished") == 1
