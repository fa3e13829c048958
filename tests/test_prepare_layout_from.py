"""What a source learns reading a unit (``UnitSamples.notes``, e.g. a ROI source's
``layout_from``) reaches the HDF5 attributes when the unit was read in a joblib worker
(``n_jobs>1``) or by an earlier, resumed prepare; commit 09b7df4's second ``describe()`` saw only
what the parent process had read itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import release_tree as rt

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.preparation import prepare_dataset
from bold5000_ae.prepare.sources.base import UnitSamples
from bold5000_ae.prepare.sources.roi import RoiSource


class NotingSource:
    """Four units of random rows; each unit notes where its layout came from."""

    def mask_and_affine(self) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((6, 1, 1), bool), np.eye(4)

    def units(self) -> list[str]:
        return [f"u{i}" for i in range(4)]

    def load(self, unit: str) -> UnitSamples:
        i = int(unit[1:])
        samples = pd.DataFrame({"subject": 1, "session": 1, "run": i + 1, "trial": [1, 2],
                                "offset_s": 4.0, "presented_name": [f"a{i}.jpg", f"b{i}.jpg"]})
        bold = np.random.default_rng(i).standard_normal((2, 6)).astype(np.float32)
        return UnitSamples(bold=bold, samples=samples, notes={"layout_from": f"file {i}"})

    def describe(self) -> dict[str, Any]:
        return {"source": "noting"}


def _prepare(source: Any, output: Path, **kwargs: Any) -> dict:
    return prepare_dataset(source, output, stimuli_root=None, image_size=8, labels={}, **kwargs)


def test_notes_from_joblib_workers_reach_the_file(tmp_path: Path) -> None:
    _prepare(NotingSource(), tmp_path / "jobs.h5", n_jobs=2)
    assert read_prepared(tmp_path / "jobs.h5").attrs["source"]["layout_from"] == {
        f"u{i}": f"file {i}" for i in range(4)}


def test_notes_of_resumed_units_reach_the_file(tmp_path: Path) -> None:
    out = tmp_path / "resumed.h5"
    _prepare(NotingSource(), out, shard=1, num_shards=2)  # u1, u3 by an earlier "job"
    summary = _prepare(NotingSource(), out)  # a fresh source: reads u0, u2, resumes u1, u3
    assert summary["units_resumed"] == 2
    assert read_prepared(out).attrs["source"]["layout_from"] == {
        f"u{i}": f"file {i}" for i in range(4)}


def test_roi_layout_from_survives_a_resumed_prepare(tmp_path: Path) -> None:
    tree = tmp_path / "BOLD5000_release1"
    rt.write_stimuli(tree)
    rt.write_release1(tree, "mat")
    out = tmp_path / "roi.h5"
    kwargs = {"stimuli_root": tree, "image_size": 8, "labels": {}}
    prepare_dataset(RoiSource(tree), out, shard=0, num_shards=1, **kwargs)  # parts only
    prepare_dataset(RoiSource(tree), out, **kwargs)  # the merge: nothing read here
    source = read_prepared(out).attrs["source"]
    assert source["layout_from"] == {"sub-CSI1": "presentation files"}
    assert source["roi_widths"] == list(rt.ROI_WIDTHS.values())
