"""Preparation survives a SIGKILL: no output until complete, rerun resumes, result unchanged."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.utils.errors import InputError

SCRIPT = str(Path(sys.executable).with_name("bold5000-ae-prepare"))
MASK = "{root}/derivatives/masks/sub-CSI{subject}_brainmask.nii.gz"


@pytest.fixture
def many_runs(synthetic_raw: Path, tmp_path: Path) -> Path:
    """The tiny synthetic set with its 4 runs copied into sessions 3-4: 8 runs."""
    raw = tmp_path / "raw"
    shutil.copytree(synthetic_raw, raw)
    sub = raw / "bids" / "sub-CSI1"
    for new, old in ((3, 1), (4, 2)):
        func = sub / f"ses-{new:02d}" / "func"
        func.mkdir(parents=True)
        for path in (sub / f"ses-{old:02d}" / "func").iterdir():
            shutil.copy(path, func / path.name.replace(f"ses-{old:02d}", f"ses-{new:02d}"))
    return raw


def _command(raw: Path, output: Path, run_dir: Path) -> list[str]:
    return [SCRIPT, "source=synthetic", f"source.root={raw}", f"output={output}",
            "image_size=16", f"hydra.run.dir={run_dir}"]


@pytest.mark.subprocess
@pytest.mark.slow
def test_sigkill_mid_prepare_then_rerun_equals_uninterrupted(many_runs: Path,
                                                             tmp_path: Path) -> None:
    output = tmp_path / "out" / "killed.h5"
    parts = output.with_name(output.name + ".parts")
    proc = subprocess.Popen(_command(many_runs, output, tmp_path / "run1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (parts.is_dir() and any(parts.glob("*.npz"))):
        assert proc.poll() is None, "prepare ended before writing a part"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = sorted(p.name for p in parts.glob("*.npz"))
    assert 1 <= len(done) < 8, f"killed too late to test resumption: {done}"
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if p.name.endswith(".tmp") and
                p.is_file() and p.name.startswith(f".{output.name}")]

    rerun = subprocess.run(_command(many_runs, output, tmp_path / "run2"), capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert output.is_file() and not parts.exists()
    # the rerun (another Hydra run folder) reused every finished part
    resumed = re.search(r"units_resumed\W+(\d+)", rerun.stdout)
    assert resumed and int(resumed.group(1)) == len(done), rerun.stdout[-2000:]

    whole = tmp_path / "whole.h5"
    prepare_dataset(BidsSource(many_runs / "bids", mask=MASK), whole,
                    stimuli_root=many_runs / "BOLD5000_Stimuli/Scene_Stimuli/Presented_Stimuli",
                    image_size=16, labels={"table": str(many_runs / "labels.tsv")})
    a, b = read_prepared(output), read_prepared(whole)
    assert a.bold.shape == (8 * 24, 440)
    np.testing.assert_array_equal(a.bold, b.bold)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.image_names == b.image_names


class _Counting:
    """Wraps a source: counts loads and can fail on one unit (a crash mid-way)."""

    def __init__(self, inner: BidsSource, fail_on: str | None = None) -> None:
        self.inner, self.fail_on, self.loaded = inner, fail_on, []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def load(self, unit: str) -> UnitSamples:
        if unit == self.fail_on:
            raise InputError(unit, "simulated crash")
        self.loaded.append(unit)
        return self.inner.load(unit)


def test_rerun_loads_only_the_units_not_yet_done(synthetic_raw: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.h5"
    kwargs = dict(stimuli_root=None, image_size=8, labels={})
    units = BidsSource(synthetic_raw / "bids", mask=MASK).units()
    crashing = _Counting(BidsSource(synthetic_raw / "bids", mask=MASK), fail_on=units[2])
    with pytest.raises(InputError, match="simulated crash"):
        prepare_dataset(crashing, output, **kwargs)
    assert crashing.loaded == units[:2] and not output.exists()
    resumed = _Counting(BidsSource(synthetic_raw / "bids", mask=MASK))
    summary = prepare_dataset(resumed, output, **kwargs)
    assert resumed.loaded == units[2:] and summary["runs"] == 4
    # another configuration does not reuse the parts
    other = _Counting(BidsSource(synthetic_raw / "bids", mask=MASK, mode="mean"))
    prepare_dataset(other, tmp_path / "mean.h5", **kwargs)
    assert other.loaded == units


@pytest.mark.subprocess
def test_console_bad_input_is_one_line_and_nothing_written(tmp_path: Path) -> None:
    """A source's problem reaches the user as one line, exit 2, no output file."""
    from tests.test_source_betas import write_betas

    write_betas(tmp_path / "betas")
    names = tmp_path / "betas" / "CSI1_stim_lists.txt"
    names.write_text("\n".join(names.read_text().split()[:50]))
    output = tmp_path / "betas.h5"
    result = subprocess.run(
        [SCRIPT, "source=betas", f"source.root={tmp_path / 'betas'}",
         f"source.stim_list={tmp_path / 'betas'}", f"output={output}",
         f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: {names}: stimulus list shorter than the trials: "
                                     "50 names for 111 trials")
    assert not output.exists() and not output.with_name("betas.h5.parts").exists()
