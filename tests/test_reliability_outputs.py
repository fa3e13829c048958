"""Outputs of synth and prepare: an overwrite replaces only what the command wrote, never an
input; every refusal is one line, exit 2, and leaves no ``.lock`` and no half-written file.

Each case runs the console script as a user types it (docs/reliability.md, "Outputs of synth and
prepare"). The full-disk and read-only cases mount a small tmpfs when the machine allows it
(root); a faked full disk (``os.write`` failing with ENOSPC) runs everywhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bold5000_ae.synthetic.manifest import MANIFEST_NAME
from bold5000_ae.utils import locks
from bold5000_ae.utils.atomic_io import require_free_space
from bold5000_ae.utils.errors import InputError
from tests.helpers.cli import console_script

RUN = "sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-01"
# a synthetic dataset that takes seconds: the spec=easy generator on a small grid
TINY_SYNTH = ["spec=easy", "spec.grid=[12,14,12]", "spec.sessions=1", "spec.runs_per_session=2",
              "spec.trials_per_run=6", "+spec.volumes_per_run=40", "spec.unique_images=12",
              "spec.image_size=8"]


def _run(script: str, args: list[str], root: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(root)}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run([console_script(script), *args], capture_output=True, text=True,
                          env=env, timeout=300, **kwargs)


def _refused(done: subprocess.CompletedProcess, starts: str, says: str) -> str:
    """Exit 2, no traceback, and the last stderr line ``error: <starts>...<says>...``."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {starts}") and says in line, line
    return line


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    """Lock files and temporary files a writer may have left in ``folder``."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.endswith((".lock", ".tmp")) or ".staging" in p.name)


@contextlib.contextmanager
def _tmpfs(path: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A small tmpfs at ``path``; skips when this machine does not let the test mount one."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True) if shutil.which("mount") else None
    if mounted is None or mounted.returncode != 0:
        pytest.skip("mount of a small tmpfs not permitted here (needs root): "
                    f"{mounted.stderr.strip() if mounted else 'no mount command'}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to 100 %."""
    with open(folder / "filler", "wb") as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 65536)
            handle.flush()


# --- synth -------------------------------------------------------------------------------------

@pytest.mark.subprocess
def test_synth_overwrite_keeps_files_it_did_not_write(synthetic_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "X"
    shutil.copytree(synthetic_raw, out)  # written by generate(): carries synth's manifest
    assert (out / MANIFEST_NAME).is_file()
    (out / "precious.txt").write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "notes.md").write_text("p2")
    before = _tree(out)
    done = _run("bold5000-ae-synth", [*TINY_SYNTH, f"output_dir={out}", "overwrite=true"],
                tmp_path)
    _refused(done, f"{out / 'precious.txt'}: ", "was not written by bold5000-ae-synth")
    assert _tree(out) == before and _leftovers(tmp_path) == []

    (out / "precious.txt").unlink()  # only the folder left: still refused, named
    done = _run("bold5000-ae-synth", [*TINY_SYNTH, f"output_dir={out}", "overwrite=true"],
                tmp_path)
    _refused(done, f"{out / 'sub'}: ", "was not written by bold5000-ae-synth")

    shutil.rmtree(out / "sub")  # now everything is synth's: replaced, and no lock left
    done = _run("bold5000-ae-synth", [*TINY_SYNTH, f"output_dir={out}", "overwrite=true"],
                tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["entries"]) == sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.name != MANIFEST_NAME)
    assert len(list((out / "bids").rglob("*_bold.nii.gz"))) == 2  # the new, tiny dataset
    assert _leftovers(tmp_path) == []


@pytest.mark.subprocess
def test_synth_overwrite_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    done = _run("bold5000-ae-synth", [*TINY_SYNTH, f"output_dir={out}", "overwrite=true"],
                tmp_path)
    _refused(done, f"{out}: ", f"is not empty and has no {MANIFEST_NAME}")
    assert _tree(out) == {"thesis.tex": b"years of work"} and _leftovers(tmp_path) == []


@pytest.mark.subprocess
@pytest.mark.parametrize("override,key,says", [
    ("spec.seed=abc", "spec.seed", "must be a whole number, got 'abc'"),
    ("spec.living_fraction=2", "spec.living_fraction", "must lie in [0, 1]"),
])
def test_synth_refuses_bad_spec_values(override: str, key: str, says: str,
                                       tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    done = _run("bold5000-ae-synth", [f"output_dir={out}", override], tmp_path)
    _refused(done, f"{key}: ", says)
    assert not out.exists() and _leftovers(tmp_path) == []


# --- prepare: what it may overwrite --------------------------------------------------------

def _prepare_args(raw: Path, output: Path | str, *extra: str) -> list[str]:
    return ["source=synthetic", f"source.root={raw}", f"output={output}", "image_size=8", *extra]


@pytest.mark.subprocess
@pytest.mark.parametrize("target,overwrite,says", [
    (f"bids/{RUN}_bold.nii.gz", True, "lies inside the input folder"),
    ("ground_truth.json", True, "is one of prepare's inputs (source.ground_truth)"),
    ("ground_truth.json", False, "is one of prepare's inputs (source.ground_truth)"),
    ("labels.tsv", True, "is one of prepare's inputs (source.labels_table)"),
    ("fresh.h5", True, "lies inside the input folder"),
])
def test_prepare_never_writes_over_its_inputs(target: str, overwrite: bool, says: str,
                                              synthetic_raw: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    before = _tree(raw)
    output = raw / target
    done = _run("bold5000-ae-prepare",
                _prepare_args(raw, output, f"overwrite={str(overwrite).lower()}"), tmp_path)
    _refused(done, f"{output}: ", says)
    assert _tree(raw) == before  # every input byte-identical, nothing added
    assert not output.with_name(output.name + ".parts").exists()


def _foreign_hdf5(path: Path) -> None:
    with h5py.File(path, "w") as h5:
        h5["results"] = np.arange(5)


@pytest.mark.subprocess
@pytest.mark.parametrize("make", ["text", "hdf5"])
def test_prepare_overwrites_only_a_file_it_wrote(make: str, synthetic_raw: Path,
                                                 tmp_path: Path) -> None:
    output = tmp_path / "results.h5"
    if make == "text":
        output.write_text("not prepared data")
    else:
        _foreign_hdf5(output)
    before = output.read_bytes()
    done = _run("bold5000-ae-prepare", _prepare_args(synthetic_raw, output, "overwrite=true"),
                tmp_path)
    _refused(done, f"{output}: ", "is not a file bold5000-ae-prepare wrote")
    assert output.read_bytes() == before and _leftovers(tmp_path) == []


@pytest.mark.subprocess
def test_prepare_overwrites_its_own_file_at_a_path_with_spaces(synthetic_raw: Path,
                                                               prepared_h5: Path,
                                                               tmp_path: Path) -> None:
    """The documented quoting for a path with spaces: ``"output='/a b/c.h5'"``."""
    folder = tmp_path / "my data"
    folder.mkdir()
    output = folder / "tiny prepared.h5"
    shutil.copy(prepared_h5, output)
    before = output.read_bytes()
    done = _run("bold5000-ae-prepare",
                _prepare_args(synthetic_raw, f"'{output}'", "overwrite=true"), tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert output.read_bytes() != before  # replaced (image_size 8, not the fixture's 16)
    with h5py.File(output, "r") as h5:
        assert h5["images"].shape[1:3] == (8, 8)
    assert _leftovers(folder) == []  # the lock file went with its writer


@pytest.mark.subprocess
def test_prepare_keeps_a_parts_folder_it_did_not_make(synthetic_raw: Path,
                                                      tmp_path: Path) -> None:
    output = tmp_path / "out.h5"
    parts = tmp_path / "out.h5.parts"
    parts.mkdir()
    (parts / "mine.txt").write_text("not a part")
    done = _run("bold5000-ae-prepare", _prepare_args(synthetic_raw, output), tmp_path)
    _refused(done, f"{parts}: ", "holds no fingerprint.txt (not prepare's parts)")
    assert _tree(parts) == {"mine.txt": b"not a part"} and not output.exists()
    assert _leftovers(tmp_path) == []


# --- prepare: one line for bad input ----------------------------------------------------------

def _events(raw: Path) -> Path:
    return raw / "bids" / f"{RUN}_events.tsv"


def _set_cell(raw: Path, column: str, value: str) -> Path:
    path = _events(raw)
    events = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    events.loc[2, column] = value
    events.to_csv(path, sep="\t", index=False)
    return path


def _shift_affine(raw: Path) -> Path:
    path = next((raw / "bids" / "sub-CSI1" / "ses-01" / "func").glob("*run-02_bold.nii.gz"))
    img = nib.load(path)
    affine = img.affine.copy()
    affine[:3, 3] += 4.0
    nib.save(nib.Nifti1Image(np.asanyarray(img.dataobj), affine, img.header), path)
    return path


def _corrupt_truth(raw: Path) -> Path:
    path = raw / "ground_truth.json"
    path.write_text('{"noise_ceiling_r2": 0.2,')
    return path


# case: (harm on a copy of the raw data -> the file named, extra overrides, expected text)
PREPARE_CASES = {
    "imgname_empty": (lambda r: _set_cell(r, "ImgName", ""), [],
                      "line 4: ImgName is empty or n/a"),
    "imgname_na": (lambda r: _set_cell(r, "ImgName", "n/a"), [],
                   "line 4: ImgName is empty or n/a"),
    "onset_na": (lambda r: _set_cell(r, "onset", "n/a"), [],
                 "line 4: onset n/a (empty) is not a number"),
    "grid_only_affine_differs": (_shift_affine, [],
                                 "the affines differ: origin"),
    "ground_truth_corrupt": (_corrupt_truth, [], "not a readable JSON file"),
    "n_jobs_zero": (None, ["n_jobs=0"], "n_jobs: must be a whole number ≥ 1, or -1"),
    "n_jobs_negative": (None, ["n_jobs=-3"], "n_jobs: must be a whole number ≥ 1, or -1"),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(PREPARE_CASES))
def test_prepare_refuses_in_one_line(case: str, synthetic_raw: Path, tmp_path: Path) -> None:
    harm, extra, says = PREPARE_CASES[case]
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    named = harm(raw) if harm else None
    output = tmp_path / "out.h5"
    done = _run("bold5000-ae-prepare", _prepare_args(raw, output, *extra), tmp_path)
    line = _refused(done, f"{named}: " if named else "", says)
    assert "np.float64" not in line and "differs from (" not in line
    assert not output.exists() and _leftovers(tmp_path) == []


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a test worker may have inherited it ignored


@pytest.mark.subprocess
def test_ctrl_c_during_prepare_is_one_line_exit_130_and_the_rerun_resumes(
        synthetic_raw: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    sub = raw / "bids" / "sub-CSI1"  # 8 runs: sessions 3-4 copy sessions 1-2
    for new, old in ((3, 1), (4, 2)):
        func = sub / f"ses-{new:02d}" / "func"
        func.mkdir(parents=True)
        for path in (sub / f"ses-{old:02d}" / "func").iterdir():
            shutil.copy(path, func / path.name.replace(f"ses-{old:02d}", f"ses-{new:02d}"))
    output = tmp_path / "out.h5"
    parts = tmp_path / "out.h5.parts"
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen([console_script("bold5000-ae-prepare"),
                             *_prepare_args(raw, output)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not (parts.is_dir() and any(parts.glob("*.npz"))):
        assert proc.poll() is None, "prepare ended before writing a part"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith(f"error: {output}: interrupted (Ctrl-C)") and str(parts) in line
    kept = sorted(parts.glob("*.npz"))
    assert 1 <= len(kept) < 8 and not output.exists()
    assert not (tmp_path / "out.h5.lock").exists()

    rerun = _run("bold5000-ae-prepare", _prepare_args(raw, output), tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    resumed = re.search(r"units_resumed\W+(\d+)", rerun.stdout)
    assert resumed and int(resumed.group(1)) >= len(kept), rerun.stdout[-2000:]
    assert output.is_file() and not parts.exists()


@pytest.mark.subprocess
def test_ctrl_c_during_synth_is_one_line_exit_130_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen([console_script("bold5000-ae-synth"), f"output_dir={out}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".syn.") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "synth ended before it started writing"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(f"error: {out}: interrupted (Ctrl-C); "
                                                   "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]  # no dataset, lock or tmp


# --- disks, folders and locks --------------------------------------------------------------

@pytest.mark.subprocess
@pytest.mark.parametrize("script", ["bold5000-ae-prepare", "bold5000-ae-synth"])
def test_full_disk_is_one_line_and_leaves_no_lock_file(script: str, synthetic_raw: Path,
                                                       tmp_path: Path) -> None:
    """A real 100 % full file system (tmpfs): the lock file's inode fits, its PID does not."""
    with _tmpfs(tmp_path / "full", "1m") as disk:
        _fill(disk)
        args = (_prepare_args(synthetic_raw, disk / "x.h5") if script == "bold5000-ae-prepare"
                else [*TINY_SYNTH, f"output_dir={disk / 'syn'}"])
        done = _run(script, args, tmp_path)
        _refused(done, str(disk), "no space left on device")
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


@pytest.mark.subprocess
def test_small_disk_fits_a_small_prepared_file(synthetic_raw: Path, tmp_path: Path) -> None:
    """The free-space margin is proportional: a file of well under 1 MiB is prepared on a
    16 MiB file system."""
    with _tmpfs(tmp_path / "small", "16m") as disk:
        done = _run("bold5000-ae-prepare", _prepare_args(synthetic_raw, disk / "x.h5"),
                    tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        assert sorted(p.name for p in disk.iterdir()) == ["x.h5"]  # no lock, no parts
        assert (disk / "x.h5").stat().st_size < 2**20


@pytest.mark.subprocess
@pytest.mark.parametrize("script", ["bold5000-ae-prepare", "bold5000-ae-synth"])
def test_read_only_folder_is_one_line(script: str, synthetic_raw: Path, tmp_path: Path) -> None:
    """A read-only file system refuses root too (permission bits do not)."""
    with _tmpfs(tmp_path / "ro", "1m", read_only=True) as folder:
        args = (_prepare_args(synthetic_raw, folder / "x.h5") if script == "bold5000-ae-prepare"
                else [*TINY_SYNTH, f"output_dir={folder / 'syn'}"])
        done = _run(script, args, tmp_path)
        _refused(done, f"{folder}: ", "permission denied")
        assert list(folder.iterdir()) == []


def test_faked_full_disk_at_lock_creation_leaves_no_lock_file(tmp_path: Path,
                                                              monkeypatch) -> None:
    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    output = tmp_path / "x.h5"
    monkeypatch.setattr(locks.os, "write", full)
    with pytest.raises(InputError, match=r"cannot create the lock file .*: no space left on "
                                         "device"):
        locks.acquire(output, "prepared file")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.subprocess
def test_lock_file_is_removed_when_its_writer_ends(tmp_path: Path) -> None:
    output = tmp_path / "x.h5"
    lock = locks.acquire(output, "prepared file")
    assert lock.read_text() == f"{os.getpid()}\n"
    locks.release(output)
    assert not lock.exists()
    code = ("import sys; from bold5000_ae.utils.locks import acquire; "
            f"acquire({str(output)!r}); sys.exit(3)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 3, done.stderr
    assert list(tmp_path.iterdir()) == []  # released at interpreter exit, file removed


def test_a_locker_that_locked_an_unlinked_file_retries(tmp_path: Path, monkeypatch) -> None:
    """The race of removing lock files: between our open and our flock, the holder ends and
    unlinks the file, and a new writer creates and locks a fresh one. We must not count the
    unlinked inode as the lock: we retry, and meet the new writer's lock."""
    output = tmp_path / "x.h5"
    path = locks.lock_path_for(output)
    real_flock = locks.fcntl.flock
    rival: list[int] = []

    def racing_flock(fd: int, op: int) -> None:
        if not rival:  # first call: the file we opened is unlinked and replaced meanwhile
            path.unlink()
            rival.append(os.open(path, os.O_RDWR | os.O_CREAT, 0o666))
            real_flock(rival[0], locks.fcntl.LOCK_EX | locks.fcntl.LOCK_NB)
        real_flock(fd, op)

    monkeypatch.setattr(locks.fcntl, "flock", racing_flock)
    try:
        with pytest.raises(InputError, match="prepared file is being written by"):
            locks.acquire(output, "prepared file")
    finally:
        os.close(rival[0])
    assert str(path) not in locks._HELD
    assert locks.acquire(output, "prepared file") == path  # the rival gone: ours, on the file
    assert os.fstat(locks._HELD[str(path)]).st_ino == os.stat(path).st_ino
    locks.release(output)


def test_free_space_margin_is_proportional_with_a_small_floor(tmp_path: Path,
                                                              monkeypatch) -> None:
    free = {"bytes": 3 * 2**20}
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**12, 0, free["bytes"]))
    require_free_space(tmp_path / "x.h5", 2**19)  # 0.5 MiB + the 2 MiB floor fits in 3 MiB
    with pytest.raises(InputError, match="3 MiB free, 3 MiB needed"):
        require_free_space(tmp_path / "x.h5", int(1.2 * 2**20))  # 1.2 + 2 MiB does not
    free["bytes"] = 1000 * 2**20
    require_free_space(tmp_path / "x.h5", 900 * 2**20)  # 900 MiB + 10 % fits in 1000 MiB
    with pytest.raises(InputError, match="1000 MiB free, 1045 MiB needed"):
        require_free_space(tmp_path / "x.h5", 950 * 2**20)


def test_nan_affine_is_named_as_nan_not_as_a_shape(prepared_h5: Path, tmp_path: Path) -> None:
    from bold5000_ae.data.validate import validate_prepared

    path = tmp_path / "nan_affine.h5"
    shutil.copy(prepared_h5, path)
    with h5py.File(path, "a") as h5:
        h5["affine"][0, 0] = np.nan
    with h5py.File(path, "r") as h5, pytest.raises(InputError) as refused:
        validate_prepared(h5, path)
    assert str(refused.value) == (f"{path}: /affine: holds NaN or Inf values; expected a "
                                  "finite 4x4 matrix")


def test_free_space_check_counts_the_images(prepared_h5: Path, tmp_path: Path,
                                            monkeypatch) -> None:
    """Large stimulus images (image_size=256) can outweigh /bold: they are counted too."""
    from bold5000_ae.data.hdf5_format import read_prepared, write_prepared

    data = read_prepared(prepared_h5)
    data.images = np.zeros((len(data.images), 256, 256, 3), np.uint8)  # 4.5 MiB for 24 images
    assert data.bold.nbytes < 2**20
    monkeypatch.setattr(shutil, "disk_usage",
                        lambda p: shutil._ntuple_diskusage(10**12, 0, 5 * 2**20))
    with pytest.raises(InputError, match="not enough free space: 5 MiB free"):
        write_prepared(tmp_path / "big_images.h5", data)
    assert list(tmp_path.iterdir()) == []


def test_ceiling_warning_is_shown_once_when_two_callers_ask(prepared_h5: Path,
                                                             tmp_path: Path) -> None:
    """Training and the PCA-k baseline both ask for the ceiling; a z-scored pair warns once."""
    import warnings

    from bold5000_ae.data.datamodule import BoldDataModule
    from bold5000_ae.evaluation.ceiling import ceiling_metrics

    data = tmp_path / "tiny.h5"
    shutil.copy(prepared_h5, data)  # prepared z-scored per run: no ceiling can be computed
    shutil.copy(prepared_h5, tmp_path / "tiny_noiseless.h5")
    dm = BoldDataModule(str(data))
    dm.setup()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("default")  # Python's own: once per location
        first = ceiling_metrics(dm)
        second = ceiling_metrics(dm)
    assert first == second == {}
    assert [str(w.message) for w in shown if "z-scored per run" in str(w.message)] == [
        f"{data} or its twin was z-scored per run (nonlinear): no ceiling; prepare with "
        "source.reader.standardize=false"]
