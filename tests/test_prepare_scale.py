"""Preparation at scale: the cosine high-pass, streaming assembly, joblib and shards."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.signal import clean

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.events import read_events
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.bids import BidsSource
from bold5000_ae.utils.errors import InputError

MASK = "{root}/derivatives/masks/sub-CSI{subject}_brainmask.nii.gz"
FUNC = "sub-CSI1/ses-01/func/sub-CSI1_ses-01_task-5000scenes_run-01"


def _prepare(source: Any, output: Path, **kwargs: Any) -> dict:
    return prepare_dataset(source, output, stimuli_root=None, image_size=8, labels={}, **kwargs)


def test_each_high_pass_filter_is_nilearns_and_recorded(synthetic_raw: Path,
                                                        tmp_path: Path) -> None:
    bids = synthetic_raw / "bids"
    raw = np.asarray(nib.load(bids / f"{FUNC}_bold.nii.gz").dataobj)
    onsets = read_events(bids / f"{FUNC}_events.tsv").onset.to_numpy()
    frames = np.rint((onsets[:, None] + [4.0, 6.0, 8.0]) / 2.0).astype(int).ravel()
    rows = {}
    for name in ("cosine", "butterworth"):
        source = BidsSource(bids, mask=MASK, high_pass_filter=name)
        mask, _ = source.mask_and_affine()
        expected = clean(raw[mask].T, detrend=True, high_pass=1 / 128, t_r=2.0,
                         standardize="zscore_sample", filter=name)
        _prepare(source, tmp_path / f"{name}.h5")
        data = read_prepared(tmp_path / f"{name}.h5")
        assert data.attrs["high_pass_filter"] == name
        assert data.attrs["source"]["high_pass_filter"] == name
        t = data.trials
        first = np.flatnonzero((t.session == 1) & (t.run == 1))
        np.testing.assert_allclose(data.bold[first], expected[frames], atol=1e-4)
        rows[name] = data.bold
    # the two filters remove the same slow drift: cleaned rows agree closely, not exactly
    # (median voxel correlation 0.92 on these 50-volume runs; 0.98 at 194 volumes, bench_scale)
    a, b = rows["cosine"], rows["butterworth"]
    r = (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))
    assert np.median(r) > 0.9 and not np.allclose(a, b, atol=1e-3)
    with pytest.raises(InputError, match="high_pass_filter: unknown filter 'fir'"):
        BidsSource(bids, mask=MASK, high_pass_filter="fir")


def test_n_jobs_and_shards_give_the_same_file(synthetic_raw: Path, tmp_path: Path) -> None:
    source = BidsSource(synthetic_raw / "bids", mask=MASK)
    _prepare(source, tmp_path / "serial.h5")
    _prepare(source, tmp_path / "parallel.h5", n_jobs=2)
    sharded = tmp_path / "sharded.h5"
    parts = tmp_path / "sharded.h5.parts"
    first = _prepare(source, sharded, shard=0, num_shards=3)
    assert first["units_in_shard"] == 2 and first["parts_done"] == "2 of 4"
    assert not sharded.exists() and len(list(parts.glob("*.npz"))) == 2
    assert _prepare(source, sharded, shard=2, num_shards=3)["parts_done"] == "3 of 4"
    merged = _prepare(source, sharded)  # prepares the missing unit, then assembles
    assert merged["units_resumed"] == 3 and not parts.exists()
    whole = read_prepared(tmp_path / "serial.h5")
    for other in (read_prepared(tmp_path / "parallel.h5"), read_prepared(sharded)):
        np.testing.assert_array_equal(other.bold, whole.bold)
        pd.testing.assert_frame_equal(other.trials, whole.trials)
    with pytest.raises(InputError, match="shard: shard 3 is outside 0..2"):
        _prepare(source, tmp_path / "bad.h5", shard=3, num_shards=3)


def test_a_bad_unit_in_a_worker_is_the_one_line_error(synthetic_raw: Path,
                                                      tmp_path: Path) -> None:
    source = _Fake(n_units=3, rows=4, n_voxels=10, bad="u01")
    with pytest.raises(InputError, match=r"^u01: 4 NaN or Inf values after cleaning"):
        _prepare(source, tmp_path / "bad.h5", n_jobs=2)
    assert not (tmp_path / "bad.h5").exists()


class _Fake:
    """A source of random rows: big voxels, few rows, so memory is all BOLD."""

    def __init__(self, n_units: int, rows: int, n_voxels: int, bad: str | None = None) -> None:
        self.n_units, self.rows, self.n_voxels, self.bad = n_units, rows, n_voxels, bad

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((self.n_voxels, 1, 1), bool), np.eye(4)

    def units(self) -> list[str]:
        return [f"u{i:02d}" for i in range(self.n_units)]

    def load(self, unit: str) -> UnitSamples:
        i = int(unit[1:])
        bold = np.random.default_rng(i).standard_normal((self.rows, self.n_voxels))
        if unit == self.bad:
            bold[:, 0] = np.nan
        samples = pd.DataFrame({"subject": 1, "session": 1 + i // 4, "run": 1 + i % 4,
                                "trial": np.arange(1, self.rows + 1), "offset_s": 4.0,
                                "presented_name": [f"img{i}_{k}.jpg" for k in range(self.rows)]})
        return UnitSamples(bold=bold.astype(np.float32), samples=samples)

    def describe(self) -> dict[str, Any]:
        return {"source": "fake", "units": self.n_units}


@pytest.mark.parametrize("n_units", [4, 16])
def test_assembly_streams_one_unit_at_a_time(n_units: int, tmp_path: Path) -> None:
    """Peak traced memory of a prepare whose parts are done (assembly only) stays near one
    unit's rows, not the whole dataset (the old assembly held about 3 times all of it)."""
    source = _Fake(n_units=n_units, rows=8, n_voxels=40_000)
    unit_bytes = 8 * 40_000 * 4
    output = tmp_path / "big.h5"
    _prepare(source, output, shard=0, num_shards=1)  # every part, no assembly
    tracemalloc.start()
    _prepare(source, output, bold_dtype="float16")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * unit_bytes, (peak, unit_bytes)
    data = read_prepared(output)
    assert data.bold.shape == (8 * n_units, 40_000) and data.bold.dtype == np.float16
    np.testing.assert_allclose(data.bold[-8:], source.load(f"u{n_units - 1:02d}").bold,
                               atol=2e-3, rtol=1e-3)


@pytest.mark.slow
@pytest.mark.subprocess
def test_cli_shard_sweep_then_merge_as_documented(synthetic_raw: Path, tmp_path: Path) -> None:
    """docs/scaling.md's commands, with the local launcher: shards as a multirun, then a merge."""
    script = str(Path(sys.executable).with_name("bold5000-ae-prepare"))
    output = tmp_path / "csi1.h5"
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    common = ["source=synthetic", f"source.root={synthetic_raw}", f"output={output}",
              "image_size=16"]
    shards = subprocess.run([script, "-m", *common, "shard=0,1", "num_shards=2",
                             "hydra.callbacks.report.enabled=false"], capture_output=True,
                            text=True, timeout=600, env=env)
    assert shards.returncode == 0, shards.stderr[-2000:]
    assert not output.exists() and len(list(tmp_path.glob("csi1.h5.parts/*.npz"))) == 4
    merge = subprocess.run([script, *common], capture_output=True, text=True, timeout=600,
                           env=env)
    assert merge.returncode == 0, merge.stderr[-2000:]
    assert read_prepared(output).bold.shape == (96, 440)
    assert not (tmp_path / "csi1.h5.parts").exists()


def test_documented_cluster_prepare_composes(tmp_path: Path) -> None:
    """docs/scaling.md: the SLURM launcher composes for prepare, the per-subject output name
    interpolates the subject, and every job gets the same reference grid."""
    from hydra.core.global_hydra import GlobalHydra

    from tests.conftest import compose_config

    cfg = compose_config("prepare", [
        "hydra/launcher=slurm", "hydra.launcher.gpus_per_node=0", "source=bids",
        "source.root=/data/ds001499", "n_jobs=16", "reference=mni152",
        "source.reader.subjects=[3]", "output=/data/prepared/csi${source.reader.subjects.0}.h5"],
        tmp_path)
    assert cfg.output == "/data/prepared/csi3.h5" and cfg.n_jobs == 16
    # the top-level reference reaches the reader, with its defaults
    reader = cfg.source.reader
    assert (reader.reference, reader.reference_resolution_mm,
            reader.reference_interpolation) == ("mni152", 2, "linear")
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")
    assert (cfg.shard, cfg.num_shards) == (None, 1)
    GlobalHydra.instance().clear()
