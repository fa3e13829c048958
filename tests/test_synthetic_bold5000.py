"""The BOLD5000-sized preset (spec=bold5000): BOLD5000's design for one subject, checked on the
generator's own trial layout without generating a volume; the default preset unchanged; runs
written in parallel equal runs written in order."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from bold5000_ae.prepare.stimuli import repeat_indices
from bold5000_ae.synthetic import BrainSpec, generate, make_spec
from bold5000_ae.synthetic.design import n_trials, run_layout, trial_layout
from bold5000_ae.utils.errors import InputError
from tests.helpers.cli import console_script
from tests.helpers.hydra import compose_config

# one xdist worker runs this module: its module-scoped tiny_raw is built once
pytestmark = pytest.mark.xdist_group("synthetic_bold5000")

TINY = BrainSpec(grid=(16, 18, 16), voxel_size_mm=(10.0, 10.0, 10.0), sessions=2,
                 runs_per_session=(2, 1), trials_per_run=8, volumes_per_run=50,
                 unique_images=20, repeated_images=3, repeat_presentations=3, image_size=16,
                 seed=5, seed_per_run=True)


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("b5k") / "one"
    generate(root, TINY, n_jobs=1)
    return root


def _preset(name: str, tmp_path: Path) -> BrainSpec:
    cfg = compose_config("synth", [f"spec={name}"], tmp_path)
    GlobalHydra.instance().clear()
    return make_spec(OmegaConf.to_container(cfg.spec, resolve=True))


def test_bold5000_preset_has_the_published_design(tmp_path: Path) -> None:
    """15 sessions of 9 or 10 runs, 37 trials a run, 5,254 trials, 4,916 unique images, 113
    repeated: 112 shown 4 times and one 3 times, exactly the counts of CSI1's stimulus list
    (4,916 + 113 x 3 would be 5,255 presentations for 5,254 trials)."""
    spec = _preset("bold5000", tmp_path)
    layout = trial_layout(spec)
    assert spec.sessions == 15 and layout.session.nunique() == 15
    assert len(run_layout(spec)) == 142
    assert set(layout.groupby(["session", "run"]).size()) == {37}
    assert set(layout.groupby("session").run.nunique()) == {9, 10}
    assert len(layout) == n_trials(spec) == 5254
    assert layout.image.nunique() == 4916
    shown = Counter(layout.groupby("image").size())
    assert shown == {1: 4803, 4: 112, 3: 1}
    assert (layout.presentation > 1).sum() == 5254 - 4916
    # repeats are spread over the sessions, not packed at the end
    assert layout.loc[layout.presentation > 1, "session"].nunique() >= 12
    # same grid, noise and tuning as the default: only the design and the seeding differ
    design = {"sessions", "runs_per_session", "unique_images", "repeated_images",
              "seed_per_run"}
    assert replace(spec, **{k: getattr(BrainSpec(), k) for k in design}) == BrainSpec()


def test_default_preset_is_unchanged(tmp_path: Path) -> None:
    """`make data`, `make train` and the tests keep the small default: 6 runs, 222 trials,
    200 images, repeats filling the trials after every image is shown once, one random
    stream."""
    spec = _preset("brain", tmp_path)
    assert spec == BrainSpec()
    assert (spec.sessions, spec.runs_per_session, spec.trials_per_run) == (2, 3, 37)
    assert (spec.repeated_images, spec.seed_per_run) == (0, False)
    layout = trial_layout(spec)
    assert len(layout) == 222 and layout.image.nunique() == 200
    assert Counter(layout.groupby("image").size()) == {1: 178, 2: 22}
    cfg = compose_config("synth", [], tmp_path)
    GlobalHydra.instance().clear()
    assert Path(cfg.output_dir).name == "synthetic" and cfg.spec.sessions == 2


def test_written_stimulus_list_follows_the_repeat_design(tiny_raw: Path) -> None:
    """The generator writes the design: the stimulus list and events hold 20 images, 3 of them
    shown 3 times but two of them twice (24 trials = 20 + 3 x 2 - 2), with ``rep_`` marking
    every later showing, and sessions of 2 and 1 runs."""
    names = (tiny_raw / "BOLD5000_Stimuli/Image_Labels/CSI1_stim_lists.txt").read_text()
    names = names.split()
    assert len(names) == 24
    counts = Counter(n.removeprefix("rep_") for n in names)
    assert Counter(counts.values()) == {1: 17, 2: 2, 3: 1}
    assert [n.startswith("rep_") for n in names] == [r > 0 for r in repeat_indices(names)]
    runs = sorted(p.name for p in (tiny_raw / "bids").rglob("*_events.tsv"))
    assert runs == ["sub-CSI1_ses-01_task-5000scenes_run-01_events.tsv",
                    "sub-CSI1_ses-01_task-5000scenes_run-02_events.tsv",
                    "sub-CSI1_ses-02_task-5000scenes_run-01_events.tsv"]


@pytest.mark.subprocess  # joblib worker processes
def test_parallel_runs_equal_runs_written_in_order(tiny_raw: Path, tmp_path: Path) -> None:
    """With seed_per_run each run has its own seed, so n_jobs=2 writes the same volumes."""
    generate(tmp_path / "two", TINY, n_jobs=2)
    bolds = sorted(tiny_raw.rglob("*_bold.nii.gz"))
    assert len(bolds) == 6  # 3 runs, data and twin
    for path in bolds:
        other = tmp_path / "two" / path.relative_to(tiny_raw)
        assert np.array_equal(nib.load(path).get_fdata(), nib.load(other).get_fdata())
    assert "noiseless" not in str(bolds[0]) and nib.load(bolds[0]).get_fdata().std() > 0


@pytest.mark.parametrize(("values", "problem"), [
    ({"repeated_images": 10}, "20 images with 10 shown 3 times make 40 presentations"),
    ({"runs_per_session": [2, 1, 1]}, "need one count >= 1 per session (2)"),
    ({"repeat_presentations": 1}, "repeat_presentations >= 2")])
def test_impossible_design_is_one_error_naming_the_field(values: dict, problem: str) -> None:
    base = {k: (list(v) if isinstance(v, tuple) else v) for k, v in TINY.__dict__.items()}
    with pytest.raises(InputError) as err:
        make_spec({**base, **values})
    assert str(err.value).startswith("spec.") and problem in str(err.value)


@pytest.mark.subprocess
def test_synth_cli_refuses_an_impossible_design(tmp_path: Path) -> None:
    """As a user types it: one line, exit 2, nothing written."""
    out = tmp_path / "b5k"
    env = {**os.environ, "PROJECT_ROOT": str(tmp_path)}
    env.pop("HYDRA_FULL_ERROR", None)
    run = subprocess.run([console_script("bold5000-ae-synth"), "spec=bold5000",
                          f"output_dir={out}", "spec.repeated_images=5000"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "error: spec.repeated_images: need 0 <= repeated_images <= unique_images (4916) and "
        "repeat_presentations >= 2, got 5000 and 4"]
    assert not out.exists()
