"""One case per kind of bad input: a one-line message naming the input and the problem, a
non-zero exit, no traceback, and no existing output touched."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bold5000_ae.cli.prepare import prepare
from bold5000_ae.cli.train import train
from bold5000_ae.data.hdf5_format import FORMAT_VERSION
from tests.helpers.hydra import TINY_TRAIN, compose_config

RUN = "sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-01"


def _bold(root: Path) -> Path:
    return root / "bids" / f"{RUN}_bold.nii.gz"


def truncate_run(root: Path) -> Path:
    path = _bold(root)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def run_is_3d(root: Path) -> Path:
    path = _bold(root)
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine), path)
    return path


def mask_on_other_grid(root: Path) -> Path:
    path = root / "bids/derivatives/masks/sub-CSI1_brainmask.nii.gz"
    img = nib.load(path)
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj)[:-2], img.affine), path)
    return path


def nan_voxels(root: Path) -> Path:
    path = _bold(root)
    img = nib.load(path)
    data = np.asarray(img.dataobj).copy()
    data[6, 7, 6, 10] = np.nan
    nib.save(nib.Nifti1Image(data, img.affine, img.header), path)
    return path


def events_beyond_run(root: Path) -> Path:
    path = root / "bids" / f"{RUN}_events.tsv"
    events = pd.read_csv(path, sep="\t")
    events.loc[len(events) - 1, "onset"] = 500.0  # the run lasts 100 s
    events.to_csv(path, sep="\t", index=False)
    return path


def events_missing(root: Path) -> Path:
    path = root / "bids" / f"{RUN}_events.tsv"
    path.unlink()
    return _bold(root)


def gzip_garbage_run(root: Path) -> Path:
    path = _bold(root)
    with gzip.open(path, "wb") as handle:
        handle.write(b"not a nifti file at all" * 10)
    return path


PREPARE_CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated_nifti": (truncate_run, "unreadable NIfTI"),
    "not_a_nifti": (gzip_garbage_run, "unreadable NIfTI"),
    "wrong_dimensionality": (run_is_3d, "expected a 4D image"),
    "mask_grid_mismatch": (mask_on_other_grid, "does not match"),
    "nan_voxels": (nan_voxels, "NaN or Inf"),
    "events_beyond_run": (events_beyond_run, "events do not fit the run"),
    "events_missing": (events_missing, "no matching events file"),
}


@pytest.mark.parametrize("case", sorted(PREPARE_CASES))
def test_prepare_refuses_bad_raw_input(case: str, synthetic_raw: Path, prepared_h5: Path,
                                       tmp_path: Path, capsys) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    harm, problem = PREPARE_CASES[case]
    bad_file = harm(raw)
    output = tmp_path / "out.h5"
    shutil.copy(prepared_h5, output)  # a previous prepared file must survive a failed overwrite
    previous = output.read_bytes()
    cfg = compose_config("prepare", ["source=synthetic", f"source.root={raw}", f"output={output}",
                                     "overwrite=true"], tmp_path)
    with pytest.raises(SystemExit) as stop:
        prepare(cfg)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"error: {bad_file}: ") or lines[-1].startswith(
        f"error: {bad_file.name}"), lines[-1]
    assert problem in lines[-1]
    assert output.read_bytes() == previous


def _h5_other_version(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        h5.attrs["format_version"] = FORMAT_VERSION + 1


def _h5_missing_dataset(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        del h5["mask"]


def _h5_not_hdf5(path: Path) -> None:
    path.write_bytes(b"plain text, not HDF5")


@pytest.mark.parametrize("harm,problem", [(_h5_other_version, "format version"),
                                          (_h5_missing_dataset, "missing dataset(s): mask"),
                                          (_h5_not_hdf5, "not a readable HDF5 file"),
                                          (Path.unlink, "file not found")])
def test_train_refuses_bad_hdf5(harm, problem: str, prepared_h5: Path, tmp_path: Path,
                                capsys) -> None:
    bad = tmp_path / "bad.h5"
    shutil.copy(prepared_h5, bad)
    harm(bad)
    cfg = compose_config("train", [f"data.path={bad}", *TINY_TRAIN], tmp_path)
    with pytest.raises(SystemExit) as stop:
        train(cfg)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {bad}: ") and problem in line, line
    assert not (tmp_path / "out" / "checkpoints").exists()


@pytest.mark.subprocess
@pytest.mark.parametrize("override,group", [("model/loss=no_such_loss", "model/loss"),
                                            ("model=no_such_model", "model"),
                                            ("data/split=no_such_split", "data/split")])
def test_unknown_config_name_lists_valid_names(override: str, group: str,
                                               tmp_path: Path) -> None:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([str(Path(sys.executable).with_name("bold5000-ae-train")), override],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert f"Could not find '{override.replace('=', '/')}'" in done.stderr
    assert f"Available options in '{group}'" in done.stderr
    assert not (tmp_path / "logs").exists() or not any((tmp_path / "logs").rglob("*.ckpt"))


@pytest.mark.subprocess
def test_unknown_source_lists_valid_names(tmp_path: Path) -> None:
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    done = subprocess.run([str(Path(sys.executable).with_name("bold5000-ae-prepare")),
                           "source=no_such_source"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "Available options in 'source'" in done.stderr and "bids" in done.stderr


def test_missing_mandatory_config_value_is_one_line(tmp_path: Path, capsys) -> None:
    cfg = compose_config("prepare", ["source=bids", f"output={tmp_path / 'o.h5'}"], tmp_path)
    with pytest.raises(SystemExit) as stop:
        prepare(cfg)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: source.reader.root: missing mandatory value")
    assert not (tmp_path / "o.h5").exists()


# ---- every case through the console script, as a user types it -------------------

BIN = Path(sys.executable).parent
TRAIN_TINY = ["trainer=cpu", "data.batch_size=8", "model.net.channels=[4,8]",
              "model.net.latent_dim=8", "logger=csv", "callbacks=none",
              "trainer.enable_progress_bar=false", "trainer.max_epochs=1"]


def _events(root: Path) -> Path:
    return root / "bids" / f"{RUN}_events.tsv"


def _edit_events(root: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    path = _events(root)
    events = pd.read_csv(path, sep="\t", dtype={"onset": object})
    edit(events).to_csv(path, sep="\t", index=False)
    return path


def _set(frame: pd.DataFrame, column: str, value: object, row: int = 2) -> pd.DataFrame:
    frame.loc[row, column] = value
    return frame


def absurd_voxel(root: Path) -> Path:
    path = _bold(root)
    img = nib.load(path)
    data = np.asarray(img.dataobj).astype(np.float32)
    data[6, 7, 6, 10] = 3e38
    nib.save(nib.Nifti1Image(data, img.affine, img.header), path)
    return path


# case: (harm on a copy of the raw data → the file named, extra overrides, expected text)
PREPARE_CLI_CASES: dict[str, tuple[Callable[[Path], Path] | None, list[str], str]] = {
    "events_onset_not_a_number": (
        lambda r: _edit_events(r, lambda e: _set(e, "onset", "abc")), [],
        "line 4: onset 'abc' is not a number"),
    "events_negative_onset": (
        lambda r: _edit_events(r, lambda e: _set(e, "onset", "-3.0")), [],
        "line 4: onset -3.0 s is negative"),
    "events_duplicated_row": (
        lambda r: _edit_events(r, lambda e: pd.concat([e, e.iloc[[2]]], ignore_index=True)), [],
        "repeats line 4 (duplicated event rows would duplicate samples)"),
    "absurd_voxel_value": (absurd_voxel, [], "1 voxel values beyond ±1e+10"),
    "integer_bold_dtype": (None, ["bold_dtype=int8"], "bold_dtype: int8 would round"),
    "image_size_zero": (None, ["image_size=0"], "image_size: must be a whole number ≥ 1"),
    "output_is_a_folder": (None, ["output={tmp}/folder.h5"], "is an existing folder"),
}


def _cli_env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "WANDB_MODE": "disabled", "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    return env


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(PREPARE_CLI_CASES))
def test_prepare_cli_refuses_in_one_line(case: str, synthetic_raw: Path, prepared_h5: Path,
                                         tmp_path: Path) -> None:
    harm, extra, problem = PREPARE_CLI_CASES[case]
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    named = harm(raw) if harm else None
    (tmp_path / "folder.h5").mkdir()
    output = tmp_path / "out.h5"
    shutil.copy(prepared_h5, output)  # a previous prepared file, which overwrite may replace
    previous = output.read_bytes()
    args = dict(a.split("=", 1) for a in ["source=synthetic", f"source.root={raw}",
                                          f"output={output}", "overwrite=true", *extra])
    args = [f"{k}={v.format(tmp=tmp_path)}" for k, v in args.items()]
    done = subprocess.run([str(BIN / "bold5000-ae-prepare"), *args], capture_output=True,
                          text=True, env=_cli_env(tmp_path), timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {named}: " if named else "error: ") and problem in line, line
    assert output.read_bytes() == previous
    assert not list(tmp_path.glob(".out.h5.*.tmp"))


def _h5_edit(path: Path, dataset: str, row: int, value: object) -> None:
    with h5py.File(path, "a") as h5:
        h5[dataset][row] = value


def _h5_mask_count(path: Path) -> None:
    with h5py.File(path, "a") as h5:
        mask = h5["mask"][()]
        mask[tuple(np.argwhere(~mask)[0])] = True
        h5["mask"][...] = mask


# case: (harm on a copy of the prepared file, overrides, expected text; None: file named)
TRAIN_CLI_CASES: dict[str, tuple[Callable[[Path], None] | None, list[str], str]] = {
    "label_out_of_range": (lambda p: _h5_edit(p, "trials/label", 5, 7), [],
                           "/trials/label: row 5: label 7 is not one of (-1, 0, 1)"),
    "nan_row": (lambda p: _h5_edit(p, "bold", 3, np.nan), [], "/bold: row 3: NaN or Inf"),
    "image_index_out_of_range": (lambda p: _h5_edit(p, "trials/image_index", 4, 10**6), [],
                                 "/trials/image_index: row 4: 1000000 is outside -1.."),
    "mask_voxel_count": (_h5_mask_count, [], "/mask: holds"),
    "batch_size_zero": (None, ["data.batch_size=0"], "data.batch_size: must be a whole number"),
    "batch_size_negative": (None, ["data.batch_size=-4"], "data.batch_size: must be"),
    "lr_nan": (None, ["model.optimizer.lr=nan"], "model.optimizer.lr: must be a finite number"),
    "data_path_is_a_folder": (None, ["data.path={tmp}"], "is a folder; data.path must name"),
    "wandb_online_without_key": (None, ["logger=wandb", "logger.wandb.offline=false"],
                                 "logger.wandb.offline: false needs a wandb API key"),
}


@pytest.mark.subprocess
@pytest.mark.parametrize("case", sorted(TRAIN_CLI_CASES))
def test_train_cli_refuses_in_one_line(case: str, prepared_h5: Path, tmp_path: Path) -> None:
    harm, extra, problem = TRAIN_CLI_CASES[case]
    bad = tmp_path / "bad.h5"
    shutil.copy(prepared_h5, bad)
    if harm:
        harm(bad)
    env = _cli_env(tmp_path)
    if case.startswith("wandb"):  # no key anywhere: not in the environment, no ~/.netrc
        env.pop("WANDB_MODE")
        env.pop("WANDB_API_KEY", None)
        env["HOME"] = str(tmp_path)
    run = tmp_path / "run"
    args = dict(a.split("=", 1) for a in [f"data.path={bad}", *TRAIN_TINY,
                                          f"hydra.run.dir={run}", *extra])
    args = [f"{k}={v.format(tmp=tmp_path)}" for k, v in args.items()]
    done = subprocess.run([str(BIN / "bold5000-ae-train"), *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and problem in line, line
    if harm:
        assert line.startswith(f"error: {bad}: ")
    assert not (run / "checkpoints").exists() and not (run / "metrics.json").exists()


@pytest.mark.subprocess
@pytest.mark.parametrize("script,override", [("bold5000-ae-train", "trainer.max_epoch=3"),
                                             ("bold5000-ae-prepare", "no_such_key=1"),
                                             ("bold5000-ae-train", "model=no_such_model")])
def test_config_typos_exit_2(script: str, override: str, tmp_path: Path) -> None:
    done = subprocess.run([str(BIN / script), override], capture_output=True, text=True,
                          env=_cli_env(tmp_path), timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and override.split("=")[0] in done.stderr


def _nobody_can_run_python() -> bool:
    try:
        return subprocess.run([sys.executable, "-c", "pass"], user="nobody", timeout=60,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.subprocess
@pytest.mark.parametrize("where", ["output", "project_root"])
def test_non_writable_output_or_project_root(where: str, tmp_path: Path, monkeypatch,
                                            capsys) -> None:
    """Root ignores permission bits: as root the child runs as ``nobody`` when it can reach the
    interpreter; otherwise (a venv under /root) the entry point runs in-process with the folder
    reported not writable, as ``os.access`` reports it to a user without the permission."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="b5ae-perm-"))  # outside pytest's private 0700 folder
    try:
        base.chmod(0o755)
        (base / "ro").mkdir()
        (base / "rw").mkdir()
        (base / "ro").chmod(0o555)
        (base / "rw").chmod(0o777)
        root = base / ("ro" if where == "project_root" else "rw")
        output = base / "ro" / "x.h5"
        if os.geteuid() != 0 or _nobody_can_run_python():
            env = {**_cli_env(root), "HOME": str(base / "rw")}
            done = subprocess.run([str(BIN / "bold5000-ae-prepare"), f"output={output}"],
                                  capture_output=True, text=True, env=env, timeout=120,
                                  **({"user": "nobody"} if os.geteuid() == 0 else {}))
            code, err = done.returncode, done.stderr
        else:
            real = os.access
            monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == base / "ro"
                                and mode & os.W_OK else real(p, mode, **kw))
            monkeypatch.setenv("PROJECT_ROOT", str(root))
            monkeypatch.setattr(sys, "argv", ["bold5000-ae-prepare", f"output={output}"])
            from bold5000_ae.cli.prepare import main

            with pytest.raises(SystemExit) as stop:
                main()
            code, err = stop.value.code, capsys.readouterr().err

        assert code == 2, err[-2000:]
        line = err.strip().splitlines()[-1]
        assert line.startswith(f"error: {base / 'ro'}: permission denied"), line
        assert not output.exists()
    finally:
        (base / "ro").chmod(0o755)
        shutil.rmtree(base)
