"""Run folders, resumes, eval and report: one run per folder, resumes that keep their config,
the data file a checkpoint trained on, refusals in one line. Every case through the console
scripts as a user types them; full and read-only disks are real (a tmpfs) where this machine
may mount one, and faked otherwise."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import h5py
import pandas as pd
import pytest
import yaml

# one xdist worker runs this module: its module-scoped data and trained_run is built once
pytestmark = [pytest.mark.subprocess, pytest.mark.xdist_group("reliability_runs")]

BIN = Path(sys.executable).parent
TINY = ["trainer=cpu", "data.batch_size=8", "model.net.channels=[4,8]", "model.net.latent_dim=8",
        "logger=csv", "~callbacks.progress_bar", "~callbacks.early_stopping",
        "~callbacks.reconstruction_figures", "trainer.enable_progress_bar=false", "seed=7"]


def _env(root: Path) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root),
           "OMP_NUM_THREADS": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def _cli(script: str, args: list[str], root: Path, timeout: int = 300
         ) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / script), *args], env=_env(root), capture_output=True,
                          text=True, timeout=timeout)


def _train(args: list[str], root: Path) -> subprocess.CompletedProcess:
    flags = [a for a in args if a.startswith("-")]
    return _cli("bold5000-ae-train", [*flags, *TINY, *[a for a in args if a not in flags]], root)


def _error_line(done: subprocess.CompletedProcess) -> str:
    """The one ``error:`` line on stderr; no traceback."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def data(prepared_h5: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own copy of the tiny prepared file (its runs record its identity)."""
    copy = tmp_path_factory.mktemp("data") / "tiny.h5"
    shutil.copy(prepared_h5, copy)
    return copy


@pytest.fixture(scope="module")
def trained_run(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 2-epoch run with checkpoints; tests copy it before harming it."""
    root = tmp_path_factory.mktemp("trained")
    done = _train([f"data.path={data}", "trainer.max_epochs=2", f"hydra.run.dir={root / 'run'}"],
                  root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "run"


@pytest.fixture
def run(trained_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(trained_run, target)
    return target


# --- one run per folder ---------------------------------------------------------------------

def test_new_run_into_a_finished_run_folder_is_refused_and_touches_nothing(
        run: Path, data: Path, tmp_path: Path) -> None:
    before = _snapshot(run)
    done = _train([f"data.path={data}", "trainer.max_epochs=1", f"hydra.run.dir={run}"], tmp_path)
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: {run}: holds another run's results (metrics.json, "), line
    assert "ckpt_path=last" in line and "leave hydra.run.dir unset" in line
    assert _snapshot(run) == before  # metrics, history, checkpoints, config: as they were


def test_sweep_rerun_without_auto_resume_refuses_each_job_and_ranks_no_stale_job(
        data: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    common = [f"data.path={data}", "trainer.max_epochs=1", "test=false",
              f"hydra.sweep.dir={sweep}"]
    first = _train(["-m", *common, "model.net.latent_dim=4,8"], tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    before = [_snapshot(sweep / "0"), _snapshot(sweep / "1")]
    again = _train(["-m", *common, "model.net.latent_dim=4"], tmp_path)  # one job, no resume
    assert again.returncode == 1  # a refused job fails the sweep
    error = json.loads((sweep / "0" / "failed.json").read_text())["error"]
    assert "holds another run's results" in error and "auto_resume=true" in error
    after = _snapshot(sweep / "0")
    for name in ("metrics.json", "csv/metrics.csv", "checkpoints/last.ckpt",
                 ".hydra/config.yaml"):
        assert after[name] == before[0][name], name
    assert _snapshot(sweep / "1") == before[1]  # not launched: untouched
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert dict(zip(runs["job"], runs["status"], strict=True)) == {0: "failed", 1: "stale"}
    assert pd.read_csv(sweep / "report" / "summary.csv").empty  # nothing ranked
    assert "1 failed, 1 stale" in (sweep / "report" / "summary.md").read_text().replace(
        "2 jobs, ", "")


# --- resumes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args,other_file,named", [
    (["data.normalize=none", "model/loss=l1"], False,
     ["data.normalize 'voxel' → 'none'", "model.loss._target_ "]),
    (["model/regularizer=latent_l2"], False, ["model.regularizer"]),
    ([], True, ["data.path "]),
])
def test_resume_with_changed_data_loss_or_regularizer_is_refused_naming_the_keys(
        args: list[str], other_file: bool, named: list[str], run: Path, data: Path,
        tmp_path: Path) -> None:
    path = data
    if other_file:
        path = tmp_path / "other.h5"
        shutil.copy(data, path)
    before = _snapshot(run)
    done = _train([f"data.path={path}", "trainer.max_epochs=3", "ckpt_path=last",
                   f"hydra.run.dir={run}", *args], tmp_path)
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: {run}: cannot resume: changed since this run trained: ")
    assert all(name in line for name in named), line
    assert _snapshot(run) == before


def test_resume_on_a_re_prepared_file_is_refused(run: Path, data: Path, tmp_path: Path) -> None:
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    moved = tmp_path / "data.h5"  # the same path in the config, other content in the file
    shutil.copy(data, moved)
    with h5py.File(moved, "r+") as h5:
        h5["bold"][0, 0] += 1.0
    for folder in (".hydra", ".hydra.claimed"):
        config["data"]["path"] = str(moved)
        (run / folder / "config.yaml").write_text(yaml.safe_dump(config))
    before = _snapshot(run)
    done = _train([f"data.path={moved}", "trainer.max_epochs=3", "ckpt_path=last",
                   f"hydra.run.dir={run}"], tmp_path)
    assert done.returncode == 2
    assert "is not the file this run trained on" in _error_line(done)
    assert _snapshot(run) == before


def test_accepted_resume_keeps_the_recorded_config_and_status_follows_to_finished(
        run: Path, data: Path, tmp_path: Path) -> None:
    (run / "metrics.json").unlink()  # a preempted run: status.json, no metrics.json
    (run / "status.json").write_text(json.dumps({"status": "preempted", "epoch": 1}))
    recorded = {f: (run / f / "config.yaml").read_bytes() for f in (".hydra", ".hydra.claimed")}
    done = _train([f"data.path={data}", "trainer.max_epochs=3", "ckpt_path=last",
                   "data.num_workers=0", f"hydra.run.dir={run}"], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for folder, content in recorded.items():
        assert (run / folder / "config.yaml").read_bytes() == content, folder
    resumes = list((run / ".hydra.resumes").glob("*/overrides.yaml"))
    assert len(resumes) == 1 and "trainer.max_epochs=3" in resumes[0].read_text()
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert json.loads((run / "metrics.json").read_text())["status"] == "finished"


def test_corrupt_run_config_on_resume_and_on_eval_is_one_line(run: Path, data: Path,
                                                              tmp_path: Path) -> None:
    for folder in (".hydra", ".hydra.claimed"):
        (run / folder / "config.yaml").write_text("model: {net: [unclosed\n")
    resumed = _train([f"data.path={data}", "ckpt_path=last", "trainer.max_epochs=3",
                      f"hydra.run.dir={run}"], tmp_path)
    assert resumed.returncode == 2
    assert "the run's saved config cannot be read" in _error_line(resumed)
    evaluated = _cli("bold5000-ae-eval", [f"checkpoint={run}/checkpoints/last.ckpt"], tmp_path)
    assert evaluated.returncode == 2
    line = _error_line(evaluated)
    assert line.startswith(f"error: {run}/.hydra/config.yaml: the run's saved config cannot")


# --- bad input refused in one line, before any folder ----------------------------------------

@pytest.mark.parametrize("override,message", [
    ("model.net.latent_dim=0", "model.net.latent_dim: must be a whole number ≥ 1, got 0"),
    ("model.net.latent_dim=-3", "model.net.latent_dim: must be a whole number ≥ 1, got -3"),
    ("model.net.channels=[]", "model.net.channels: must be a non-empty list"),
    ("data.num_workers=-1", "data.num_workers: must be a whole number ≥ 0, got -1"),
    ("seed=abc", "seed: must be a whole number (or null), got 'abc'"),
])
def test_bad_training_config_is_one_line_and_makes_no_run_folder(
        override: str, message: str, data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "never"
    done = _train([f"data.path={data}", override, f"hydra.run.dir={folder}"], tmp_path)
    assert done.returncode == 2
    assert _error_line(done) == f"error: {message}" or _error_line(done).startswith(
        f"error: {message}")
    assert not folder.exists()


@pytest.mark.parametrize("harm,message", [
    ("absurd", "/bold: row 3: value 1e+30 (voxel 5) is beyond ±1e+10"),
    ("constant", "/bold: every value is 0.5"),
])
def test_training_validation_refuses_absurd_or_constant_bold(harm: str, message: str,
                                                             data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.h5"
    shutil.copy(data, bad)
    with h5py.File(bad, "r+") as h5:
        if harm == "absurd":
            h5["bold"][3, 5] = 1e30
        else:
            h5["bold"][...] = 0.5
    done = _train([f"data.path={bad}", "trainer.max_epochs=1", "test=false"], tmp_path)
    assert done.returncode == 2
    assert _error_line(done) == f"error: {bad}: {message}" or message in _error_line(done)
    assert not list((tmp_path / "logs").rglob("metrics.json"))


def test_train_help_lists_only_training_groups(tmp_path: Path) -> None:
    done = _cli("bold5000-ae-train", ["--help"], tmp_path)
    assert done.returncode == 0
    groups = [line.split(":")[0] for line in done.stdout.splitlines() if ": " in line]
    assert "model/loss" in groups and "data/split" in groups
    assert "source" not in groups and "spec" not in groups


# --- memory and disks -------------------------------------------------------------------------

@contextlib.contextmanager
def _tmpfs(where: Path, size: str, read_only: bool = False) -> Iterator[bool]:
    """A real small (or read-only) file system at ``where``; yields False where this machine
    may not mount one."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = shutil.which("mount") is not None and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
        capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(folder: Path) -> None:
    with contextlib.suppress(OSError), open(folder / "filler", "wb") as handle:
        while True:
            handle.write(b"\0" * 65536)


def test_a_full_disk_during_training_writes_is_one_line(data: Path, tmp_path: Path) -> None:
    # a real ENOSPC mid-write: the run's split table goes to /dev/full
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "split.csv").symlink_to("/dev/full")
    done = _train([f"data.path={data}", "trainer.max_epochs=1", f"hydra.run.dir={folder}"],
                  tmp_path)
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: {folder}") and "no space left on device while writing" in line
    # and a disk already 100% full: refused before Hydra or the lock write anything
    with _tmpfs(tmp_path / "disk", "1m") as mounted:
        if not mounted:
            pytest.skip("no tmpfs mount on this machine; the /dev/full case ran")
        _fill(tmp_path / "disk")
        done = _train([f"data.path={data}", f"hydra.run.dir={tmp_path / 'disk' / 'run'}"],
                      tmp_path)
        assert done.returncode == 2 and "no space left on device" in _error_line(done)
        assert sorted(p.name for p in (tmp_path / "disk").iterdir()) == ["filler"]


@pytest.mark.parametrize("failure,what", [
    ("raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')",
     "out of GPU memory (CUDA out of memory."),
    ("torch.empty(10**13)", "out of host memory (RAM) ("),  # torch's own allocator fails
])
def test_out_of_memory_at_test_names_what_ran_out_and_the_surviving_checkpoint(
        failure: str, what: str, data: Path, tmp_path: Path) -> None:
    # the console script's own code, with test() running out of memory: a real allocation
    # failure from torch's CPU allocator (40 TB), or torch's CUDA error raised as a GPU would
    driver = tmp_path / "oom.py"
    driver.write_text(
        "import sys, torch, lightning\n"
        "def test(*a, **k):\n"
        f"    {failure}\n"
        "lightning.Trainer.test = test\n"
        "from bold5000_ae.cli.train import main\n"
        "sys.exit(main())\n")
    folder = tmp_path / "run"
    done = subprocess.run([sys.executable, str(driver), *TINY, f"data.path={data}",
                           "trainer.max_epochs=1", f"hydra.run.dir={folder}"],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: {what}"), line
    assert f"the checkpoints survive: {folder}/checkpoints/" in line and "last.ckpt" in line


# --- eval -------------------------------------------------------------------------------------

def test_eval_checks_the_data_file_and_says_what_to_pass(run: Path, data: Path,
                                                         tmp_path: Path) -> None:
    folder = _cli("bold5000-ae-eval", [f"checkpoint={run}/checkpoints"], tmp_path)
    assert folder.returncode == 2
    line = _error_line(folder)
    assert line.startswith(f"error: {run}/checkpoints: is a folder; pass one checkpoint file, "
                           f"e.g. checkpoint={run}/checkpoints/epoch_"), line
    same = _cli("bold5000-ae-eval", [f"checkpoint={run}/checkpoints/last.ckpt"], tmp_path)
    assert same.returncode == 0, same.stderr[-3000:]
    assert "test R² − PCA-k R²" in same.stdout and ("below PCA-k" in same.stdout
                                                   or "beats PCA-k" in same.stdout)
    assert f"the run's folder {run} is left as it was" in same.stdout
    # the same config and path, other content (re-prepared): refused, or evaluated loudly
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    other = tmp_path / "reprepared.h5"
    shutil.copy(data, other)
    with h5py.File(other, "r+") as h5:
        h5["bold"][0, :] *= 2.0
    config["data"]["path"] = str(other)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    refused = _cli("bold5000-ae-eval", [f"checkpoint={run}/checkpoints/last.ckpt"], tmp_path)
    assert refused.returncode == 2
    line = _error_line(refused)
    assert line.startswith(f"error: {other}: is not the file this run trained on")
    assert "allow_data_mismatch=true" in line
    forced = _cli("bold5000-ae-eval", [f"checkpoint={run}/checkpoints/last.ckpt",
                                       "allow_data_mismatch=true"], tmp_path)
    assert forced.returncode == 0 and "WARNING: " in forced.stderr
    assert "NOT the checkpoint's numbers" in forced.stderr


# --- report -----------------------------------------------------------------------------------

def _job(sweep: Path, num: int, overrides: list[str], metrics: dict | None = None) -> Path:
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (job / ".hydra" / "config.yaml").write_text("seed: 12345\n")
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    root = tmp_path / "logs" / "train" / "multiruns" / "2030-01-01_00-00-00"
    refs = {"baseline/pca_k/test/r2": 0.25, "baseline/train_mean/test/r2": 0.0}
    _job(root, 0, ["model/loss=mse"], {"test/r2": 0.30, "test/pearson_r": 0.6, **refs})
    _job(root, 1, ["model/loss=l1"], {"test/r2": 0.40, "test/pearson_r": 0.7, **refs})
    return root


@pytest.mark.parametrize("args", [["--rank-by", "test/r3"], ["--metrics", "test/r2", "test/pr"]])
def test_report_refuses_an_unknown_metric_and_keeps_the_report(args: list[str], sweep: Path,
                                                               tmp_path: Path) -> None:
    assert _cli("bold5000-ae-report", [str(sweep)], tmp_path).returncode == 0
    before = _snapshot(sweep / "report")
    done = _cli("bold5000-ae-report", [str(sweep), *args], tmp_path)
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: {args[0]}: no job reported a metric named "), line
    assert "valid: " in line and "test/pearson_r" in line and "test/r2" in line
    assert _snapshot(sweep / "report") == before


def test_report_shows_a_running_job_as_running_and_ranks_it_not(sweep: Path,
                                                                tmp_path: Path) -> None:
    job = _job(sweep, 2, ["model/loss=huber"])  # no metrics.json; its lock held by a live PID
    (job / ".lock").write_text(f"{os.getpid()}\n")
    done = _cli("bold5000-ae-report", [str(sweep)], tmp_path)
    assert done.returncode == 0 and "3 jobs (0 failed, 1 still running" in done.stdout
    runs = pd.read_csv(sweep / "report" / "runs.csv")
    assert list(runs["status"]) == ["ok", "ok", "running"]
    assert "killed or crashed" not in (sweep / "report" / "runs.md").read_text()
    assert len(pd.read_csv(sweep / "report" / "summary.csv")) == 2


def test_report_defaults_to_the_newest_sweep_and_reads_run_folders(sweep: Path, run: Path,
                                                                   tmp_path: Path) -> None:
    older = _job(sweep.with_name("2029-01-01_00-00-00"), 0, ["seed=1"], {"test/r2": 0.1})
    done = _cli("bold5000-ae-report", [], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"report of the newest sweep: {sweep}" in done.stdout
    assert (sweep / "report" / "report.html").is_file()
    assert not (older.parent / "report").exists()
    # a single run folder is one job, not "0 jobs"; several folders compare into --out
    single = _cli("bold5000-ae-report", [str(run)], tmp_path)
    assert single.returncode == 0 and "1 jobs (0 failed)" in single.stdout
    assert len(pd.read_csv(run / "report" / "summary.csv")) == 1
    both = _cli("bold5000-ae-report", [str(run), str(sweep / "0"), "--out",
                                       str(tmp_path / "cmp")], tmp_path)
    assert both.returncode == 0 and "2 jobs (0 failed)" in both.stdout
    # the seed column holds each job's seed, the seeds column of baseline rows no job count
    runs = pd.read_csv(tmp_path / "cmp" / "runs.csv")
    assert list(runs["seed"]) == [7, 12345]
    assert "| – | *baseline: pca_k* | – |" in (tmp_path / "cmp" / "summary.md").read_text()


def test_report_into_a_read_only_folder_is_one_line(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "readonly"
    with _tmpfs(out, "1m", read_only=True) as mounted:
        if not mounted:
            if os.geteuid() == 0:
                pytest.skip("root ignores permissions and no read-only mount is allowed here")
            out.chmod(0o555)
        done = _cli("bold5000-ae-report", [str(sweep), "--out", str(out)], tmp_path)
        assert done.returncode == 2
        line = _error_line(done)
        assert str(out) in line and ("read-only file system" in line
                                     or "permission denied" in line), line


def test_report_on_a_full_disk_never_leaves_a_cut_report(sweep: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "disk"
    with _tmpfs(out, "2m") as mounted:  # report.html embeds plotly.js: about 4.6 MB
        (out / "report.html").write_text("the previous report")
        if mounted:
            done = _cli("bold5000-ae-report", [str(sweep), "--out", str(out)], tmp_path)
            assert done.returncode == 2
            assert "no space left on device" in _error_line(done)
        else:  # faked: the page's write fails half-way with ENOSPC
            from bold5000_ae.cli.report import main

            real = Path.write_text

            def half_then_full(self: Path, text: str, *args: object, **kwargs: object) -> int:
                if text.startswith("<!doctype html>"):
                    real(self, text[: len(text) // 2], *args, **kwargs)
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
                return real(self, text, *args, **kwargs)

            monkeypatch.setattr(Path, "write_text", half_then_full)
            assert main([str(sweep), "--out", str(out)]) == 2
        assert (out / "report.html").read_text() == "the previous report"
        assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("flops,shown", [(0, False), (123_000_000, True)])
def test_model_summary_shows_flops_only_when_counted(flops: int, shown: bool,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from bold5000_ae.training.callbacks.model_summary import MeasuredFlopsSummary

    data = [("Name", ["net"]), ("Params", ["6.9 K"]), ("FLOPs", [str(flops)])]
    with caplog.at_level("INFO"):
        MeasuredFlopsSummary.summarize(data, 6900, 6900, 0.03, {"train": 3, "eval": 0}, flops)
    assert ("flops" in caplog.text.lower()) == shown
    assert ("123 M" in caplog.text) == shown and "6.9 K" in caplog.text
