"""The official release trees, prepared by the console script with only ``source.root`` given.

Each test builds a miniature copy of one release (``release_tree.py``: published names, MATLAB v5
and v7.3 ``.mat``, ``.h5``, ``.npy``, NIfTI) and runs the documented command as a user types it.
Expected rows, layouts and labels come from the fixture's own design table, never from the code.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import release_tree as rt

from bold5000_ae.data.hdf5_format import read_prepared
from bold5000_ae.prepare.sources.roi import ROI_ORDER

PREPARE = Path(sys.executable).with_name("bold5000-ae-prepare")


def prepare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``bold5000-ae-prepare <args>`` in a subprocess, project folder in tmp_path."""
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path / "project")}
    return subprocess.run([str(PREPARE), *args], capture_output=True, text=True, timeout=180,
                          cwd=tmp_path, env=env)


def session_zscore(data: np.ndarray) -> np.ndarray:
    """Per-voxel z-score within each session of the fixture, computed here with numpy."""
    out = np.empty_like(data, dtype=np.float64)
    sessions = rt.session_of_trial()
    for ses in np.unique(sessions):
        rows = sessions == ses
        std = data[rows].std(axis=0)
        out[rows] = (data[rows] - data[rows].mean(axis=0)) / np.where(std > 0, std, 1)
    return out


def check_layout_and_labels(data, per_volume: int = 1) -> None:
    """Sessions/runs as the presentation files lay them out; labels as the design table says."""
    trials = data.trials
    sizes = trials.groupby(["session", "run"]).size().to_dict()
    assert sizes == {(1, 1): 37 * per_volume, (1, 2): 37 * per_volume, (2, 1): 37 * per_volume}
    np.testing.assert_array_equal(trials.label.to_numpy(),
                                  np.repeat(rt.expected_labels(), per_volume))
    assert data.image_present.all() and len(data.image_names) == len(rt.POOL)
    rule = data.attrs["label_rule"]
    assert rule["coco"]["file"].endswith("Image_Labels/coco_final_annotations.pkl")
    assert rule["imagenet"]["file"].endswith("Image_Labels/imagenet_final_labels.txt")
    assert rule["scenes"]["policy"] == "exclude"


@pytest.mark.parametrize("fmt", ["mat", "mat73", "h5"])
def test_release1_rois_from_root_only(tmp_path: Path, fmt: str) -> None:
    tree = tmp_path / "BOLD5000_release1"
    rt.write_stimuli(tree)
    expected = rt.write_release1(tree, fmt)
    out = tmp_path / "roi.h5"
    result = prepare(tmp_path, "source=roi", f"source.root={tree}", f"output={out}")
    assert result.returncode == 0, result.stderr
    data = read_prepared(out)
    np.testing.assert_allclose(data.bold, expected.astype(np.float32))
    assert data.mask.shape == (24, 1, 1) and data.attrs["source"]["roi_order"] == list(ROI_ORDER)
    assert data.attrs["source"]["layout_from"] == {"sub-CSI1": "presentation files"}
    ext = "h5" if fmt == "h5" else "mat"
    want = f"ROIs/CSI1/{ext}/CSI1_ROIs_TR34.{ext}"
    assert data.attrs["source"]["files"]["sub-CSI1"].endswith(want)
    check_layout_and_labels(data)
    if fmt == "mat":
        check_documented_coco_count(tmp_path, out)


def documented_snippet(name: str) -> str:
    """The ``python -c "..."`` line that follows ``name`` in docs/real_bold5000.md."""
    text = (Path(__file__).parents[1] / "docs/real_bold5000.md").read_text()
    block = text[text.index(name):].split("```")[1]
    code = block[block.index('python -c "') + len('python -c "'):]
    return code[:code.index('"\n')].replace("\\\n", "")  # bash joins the lines


def check_documented_coco_count(tmp_path: Path, out: Path) -> None:
    """The docs' COCO count command, verbatim but for the file name, on the fixture: COCO trials
    show pool images 3-6, 14 times each (111 trials cycle 8 images)."""
    code = documented_snippet("prepare and count them with").replace("/data/csi1_roi.h5",
                                                                      str(out))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    coco = [label for _, source, label, _ in rt.POOL if source == "coco"]
    per_trial = {lab: 14 * coco.count(lab) for lab in set(coco)}
    per_image = {lab: coco.count(lab) for lab in set(coco)}
    printed = [ast.literal_eval(d) for d in re.findall(r"Counter\((\{[^}]*\})\)", result.stdout)]
    assert printed == [per_trial, per_image]


def test_release2_roi_betas_from_root_only(tmp_path: Path) -> None:
    tree = tmp_path / "BOLD5000_release2"
    rt.write_stimuli(tree)
    arrays = rt.write_roi_betas(tree)
    out = tmp_path / "roi_betas.h5"
    result = prepare(tmp_path, "source=roi_betas", f"source.root={tree}", f"output={out}")
    assert result.returncode == 0, result.stderr
    data = read_prepared(out)
    expected = session_zscore(np.concatenate([arrays[r] for r in ROI_ORDER], axis=1))
    np.testing.assert_allclose(data.bold, expected, atol=1e-5)
    source = data.attrs["source"]
    assert source["roi_order"] == list(ROI_ORDER)
    assert source["roi_widths"] == [rt.ROI_WIDTHS[r] for r in ROI_ORDER]
    assert source["normalized_within"] == "session"
    check_layout_and_labels(data)


def test_release2_roi_subset(tmp_path: Path) -> None:
    tree = tmp_path / "release2"
    rt.write_stimuli(tree)
    arrays = rt.write_roi_betas(tree)
    out = tmp_path / "ppa.h5"
    result = prepare(tmp_path, "source=roi_betas", f"source.root={tree}",
                     "source.reader.rois=[RHPPA,LHPPA]", "source.reader.zscore=false",
                     f"output={out}")
    assert result.returncode == 0, result.stderr
    data = read_prepared(out)
    np.testing.assert_allclose(data.bold, np.concatenate([arrays["RHPPA"], arrays["LHPPA"]], 1))
    assert data.attrs["source"]["normalized_within"] is None


def test_release2_whole_brain_betas_from_root_only(tmp_path: Path) -> None:
    tree = tmp_path / "release2"
    rt.write_stimuli(tree)
    mask, sessions = rt.write_betas(tree)
    out = tmp_path / "betas.h5"
    result = prepare(tmp_path, "source=betas", f"source.root={tree}", f"output={out}")
    assert result.returncode == 0, result.stderr
    data = read_prepared(out)
    assert np.array_equal(data.mask, mask)
    np.testing.assert_allclose(data.bold, session_zscore(np.concatenate(sessions)), atol=1e-4)
    assert data.attrs["source"]["normalized_within"] == "session"
    check_layout_and_labels(data)


def test_preprocessed_volumes_with_stimuli_from_root_only(tmp_path: Path) -> None:
    """Volumes of session 1 run 1 beside BOLD5000_Stimuli: images from the run's .mat."""
    tree = tmp_path / "volumes_and_stimuli"
    rt.write_stimuli(tree)
    rt.write_volumes(tree)
    out = tmp_path / "volumes.h5"
    result = prepare(tmp_path, "source=volumes", f"source.root={tree}", f"output={out}")
    assert result.returncode == 0, result.stderr
    data = read_prepared(out)
    trials = data.trials
    assert len(trials) == 37 * 3 and set(trials.session) == {1} and set(trials.run) == {1}
    np.testing.assert_array_equal(trials.label.to_numpy(),
                                  np.repeat(rt.expected_labels()[:37], 3))
    names = [data.image_names[i] for i in trials.image_index[::3]]
    assert names == [rt.trial_image(i)[0] for i in range(37)]
    assert data.image_present.all()


def test_runs_per_session_checked_against_presentation_files(tmp_path: Path) -> None:
    tree = tmp_path / "release1"
    rt.write_stimuli(tree)
    rt.write_release1(tree)
    out = tmp_path / "roi.h5"
    result = prepare(tmp_path, "source=roi", f"source.root={tree}",
                     "source.reader.runs_per_session=[1,2]", f"output={out}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: runs_per_session: [1, 2] disagrees with the presentation files under {tree}: "
        "[2, 1]"]
    assert not out.exists()
    result = prepare(tmp_path, "source=roi", f"source.root={tree}",
                     "source.reader.runs_per_session=[2,1]", f"output={out}")
    assert result.returncode == 0, result.stderr
    assert read_prepared(out).attrs["source"]["layout_from"] == {"sub-CSI1": "runs_per_session"}
