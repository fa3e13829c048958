"""The generator: deterministic for a seed, real formats, and the structure it claims to plant."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from bold5000_ae.prepare.events import read_events
from bold5000_ae.synthetic import EasySpec, generate
from tests.helpers.synthetic import TINY_SPEC


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in {".tsv", ".txt", ".json"}:
            h.update(path.read_bytes())
        elif path.name.endswith(".nii.gz"):
            h.update(np.asarray(nib.load(path).dataobj).tobytes())
    return h.hexdigest()


def test_same_seed_same_dataset_other_seed_differs(tmp_path: Path, synthetic_raw: Path) -> None:
    again = tmp_path / "again"
    generate(again, TINY_SPEC)
    assert _digest(again) == _digest(synthetic_raw)
    other = tmp_path / "other"
    generate(other, replace(TINY_SPEC, seed=TINY_SPEC.seed + 1))
    assert _digest(other) != _digest(synthetic_raw)


def test_bids_layout_and_event_columns(synthetic_raw: Path) -> None:
    func = synthetic_raw / "bids/sub-CSI1/ses-01/func"
    bold = nib.load(func / "sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz")
    assert bold.shape == (*TINY_SPEC.grid, TINY_SPEC.volumes_per_run)
    assert bold.header.get_zooms()[3] == TINY_SPEC.tr
    raw = pd.read_csv(func / "sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv", sep="\t")
    assert list(raw.columns[:11]) == ["onset", "duration", "Subj", "Sess", "Run", "Trial",
                                      "ImgName", "ImgType", "StimOn(s)", "StimOff(s)",
                                      "Response"]
    assert raw.columns[11].startswith("Unnamed")  # the real files' unnamed reaction-time column
    events = read_events(func / "sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv")
    assert len(events) == TINY_SPEC.trials_per_run
    np.testing.assert_allclose(events.onset, 6 + 10 * np.arange(len(events)), atol=0.05)
    stim = (synthetic_raw / "BOLD5000_Stimuli/Image_Labels/CSI1_stim_lists.txt").read_text()
    n_trials = TINY_SPEC.sessions * TINY_SPEC.runs_per_session * TINY_SPEC.trials_per_run
    names = stim.split()
    assert len(names) == n_trials
    assert sum(n.startswith("rep_") for n in names) == n_trials - TINY_SPEC.unique_images


def test_planted_response_is_in_the_data(tmp_path: Path) -> None:
    """With no noise and drift, the BOLD at onset + 6 s projects onto the planted category map
    with the sign of each trial's label."""
    spec = replace(TINY_SPEC, noise_std=0.0, drift_amplitude=0.0, category_jitter=0.0,
                   image_effect=0.0, category_effect=1.0, anatomy_scale=0.0)
    generate(tmp_path / "clean", spec)
    truth = np.load(tmp_path / "clean/ground_truth.npz")
    func = tmp_path / "clean/bids/sub-CSI1/ses-01/func"
    data = np.asarray(nib.load(func / "sub-CSI1_ses-01_task-5000scenes_run-01_bold.nii.gz")
                      .dataobj)
    events = read_events(func / "sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv")
    labels = pd.read_csv(tmp_path / "clean/labels.tsv", sep="\t").set_index("image_name").label
    mask, cmap = truth["mask"], truth["category_map"][truth["mask"]]
    for onset, name in zip(events.onset, events.ImgName):
        frame = int(round((onset + 6) / spec.tr))
        projection = data[..., frame][mask] @ cmap / (cmap @ cmap)
        # own response ~0.9 of peak; neighbours' overlap stays below that
        assert np.sign(projection) == (1 if labels[name.removeprefix("rep_")] else -1)


def test_ground_truth_bounds(synthetic_raw: Path) -> None:
    import json

    truth = json.loads((synthetic_raw / "ground_truth.json").read_text())
    assert 0.3 < truth["noise_ceiling_r2"] < 1.0
    assert 0.6 < truth["oracle_auc_volume"] <= 1.0
    assert truth["n_samples"] == 3 * TINY_SPEC.sessions * TINY_SPEC.runs_per_session * \
        TINY_SPEC.trials_per_run


def test_zero_effect_gives_chance_oracle(tmp_path: Path) -> None:
    spec = replace(EasySpec(), grid=(10, 12, 10), category_effect=0.0, sessions=2,
                   runs_per_session=3, seed=5)
    truth = generate(tmp_path / "null", spec)
    assert abs(truth["oracle_auc_volume"] - 0.5) < 0.1


def test_synth_entry_refuses_unknown_field_and_keeps_old_data(tmp_path: Path, capsys) -> None:

    from bold5000_ae.cli.synth import synth
    from tests.helpers.hydra import compose_config

    out = tmp_path / "synthetic"
    out.mkdir()
    (out / "old.txt").write_text("previous dataset")
    cfg = compose_config("synth", [f"output_dir={out}", "overwrite=true", "+spec.grdi=[8,8,8]"],
                         tmp_path)
    with pytest.raises(SystemExit) as stop:
        synth(cfg)
    assert stop.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("error: spec: unknown field(s) grdi; valid: ")
    assert (out / "old.txt").read_text() == "previous dataset"
