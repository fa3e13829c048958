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
def test_prepare_refuses_bad_raw_input(case: str, synthetic_raw: Path, tmp_path: Path,
                                       capsys) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    harm, problem = PREPARE_CASES[case]
    bad_file = harm(raw)
    output = tmp_path / "out.h5"
    output.write_bytes(b"previous output")  # must survive a failed overwrite
    cfg = compose_config("prepare", [f"source.root={raw}", f"output={output}",
                                     "overwrite=true"], tmp_path)
    with pytest.raises(SystemExit) as stop:
        prepare(cfg)
    assert stop.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"error: {bad_file}: ") or lines[-1].startswith(
        f"error: {bad_file.name}"), lines[-1]
    assert problem in lines[-1]
    assert output.read_bytes() == b"previous output"


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
