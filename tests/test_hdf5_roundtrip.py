"""Values out equal values in; metadata intact; the preparation matches the raw runs."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.signal import clean

from bold5000_ae.data.hdf5_format import (
    FORMAT_VERSION,
    PreparedData,
    read_prepared,
    write_prepared,
)
from bold5000_ae.utils.errors import InputError
from tests.helpers.synthetic import TINY_SPEC


def _tiny(n: int = 5) -> PreparedData:
    rng = np.random.default_rng(0)
    mask = np.zeros((3, 4, 5), bool)
    mask[1:, 1:3, 2:] = True
    v = int(mask.sum())
    trials = pd.DataFrame({"image_index": np.arange(n) % 2, "label": [1, 0, -1, 1, 0][:n],
                           "subject": 1, "session": 2, "run": 3, "trial": np.arange(1, n + 1),
                           "offset_s": [4.0, 6.0, 8.0, np.nan, 4.0][:n],
                           "repeat_index": [0, 0, 1, 0, 2][:n]})
    return PreparedData(bold=rng.standard_normal((n, v)).astype(np.float32), mask=mask,
                        affine=np.diag([2.0, 2.0, 2.4, 1.0]), trials=trials,
                        images=rng.integers(0, 255, (2, 8, 8, 3), dtype=np.uint8),
                        image_names=["n01930112_19568.JPEG", "COCO_train2014_000000420713.jpg"],
                        image_present=np.array([True, False]),
                        attrs={"source": {"source": "test"}, "label_rule": {"rule": "x"}})


def test_round_trip_exact(tmp_path: Path) -> None:
    data = _tiny()
    write_prepared(tmp_path / "a.h5", data)
    back = read_prepared(tmp_path / "a.h5")
    np.testing.assert_array_equal(back.bold, data.bold)
    np.testing.assert_array_equal(back.mask, data.mask)
    np.testing.assert_array_equal(back.affine, data.affine)
    np.testing.assert_array_equal(back.images, data.images)
    assert back.image_names == data.image_names
    np.testing.assert_array_equal(back.image_present, data.image_present)
    pd.testing.assert_frame_equal(back.trials, data.trials, check_dtype=False)
    assert back.attrs["format_version"] == FORMAT_VERSION
    assert back.attrs["source"] == {"source": "test"}
    assert back.attrs["label_rule"] == {"rule": "x"}
    with h5py.File(tmp_path / "a.h5") as h5:
        assert h5["bold"].chunks == (1, data.bold.shape[1])  # one sample per chunk
        assert h5["bold"].compression is None


def test_float16_storage(tmp_path: Path) -> None:
    data = _tiny()
    write_prepared(tmp_path / "h.h5", data, bold_dtype="float16")
    back = read_prepared(tmp_path / "h.h5")
    assert back.bold.dtype == np.float16
    np.testing.assert_allclose(back.bold, data.bold, atol=2e-3)


def test_refuses_other_version_and_missing_dataset(tmp_path: Path) -> None:
    write_prepared(tmp_path / "v.h5", _tiny())
    with h5py.File(tmp_path / "v.h5", "a") as h5:
        h5.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(InputError, match="format version"):
        read_prepared(tmp_path / "v.h5")
    write_prepared(tmp_path / "m.h5", _tiny())
    with h5py.File(tmp_path / "m.h5", "a") as h5:
        del h5["trials/label"]
    with pytest.raises(InputError, match="missing dataset.*trials/label"):
        read_prepared(tmp_path / "m.h5")


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    data = _tiny()
    data.trials = data.trials.iloc[:3]  # rows do not match: the writer refuses
    with pytest.raises(ValueError):
        write_prepared(tmp_path / "bad.h5", data)
    assert list(tmp_path.iterdir()) == []


def test_prepared_synthetic_matches_raw_cleaning(synthetic_raw: Path, prepared_h5: Path) -> None:
    """Row for (run 1, trial 2, +6 s) equals nilearn's cleaning of that run at that frame, with
    the default high-pass (cosine: DCT regressors), recorded in the file's attributes."""
    data = read_prepared(prepared_h5)
    assert data.bold.shape == (3 * 4 * TINY_SPEC.trials_per_run, int(data.mask.sum()))
    assert set(data.trials.label) == {0, 1}
    assert data.image_present.all()
    truth = json.loads((synthetic_raw / "ground_truth.json").read_text())
    assert data.attrs["ground_truth"] == truth
    func = synthetic_raw / "bids/sub-CSI1/ses-01/func"
    raw = np.asarray(nib.load(func / "sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz")
                     .dataobj)[data.mask].T
    assert data.attrs["high_pass_filter"] == "cosine"
    cleaned = clean(raw, detrend=True, high_pass=1 / 128, t_r=2.0, standardize="zscore_sample",
                    filter="cosine")
    events = pd.read_csv(func / "sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv", sep="\t")
    frame = int(round((events.onset[1] + 6) / 2.0))
    t = data.trials
    row = np.flatnonzero((t.session == 1) & (t.run == 1) & (t.trial == 2) & (t.offset_s == 6))
    np.testing.assert_allclose(data.bold[row[0]], cleaned[frame], atol=1e-4)
    labels = pd.read_csv(synthetic_raw / "labels.tsv", sep="\t").set_index("image_name").label
    name = events.ImgName[1].removeprefix("rep_")
    assert data.image_names[t.image_index[row[0]]] == name
    assert t.label[row[0]] == labels[name]
    assert truth["n_samples"] == len(t)
