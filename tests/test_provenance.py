"""Every prepared file says how it was made (``/provenance``), ``bold5000-ae-info`` prints it,
and ``bold5000-ae-prepare verify=FILE`` rebuilds the file and names what differs.

The recorded inputs are checked against the files the kernel saw the command open (inotify,
``tests/helpers/opened_files.py``), not against the recorder itself: for the synthetic BIDS
data, a release tree read partly through HDF5 (MATLAB v7.3 files, opened from C), and the real
BOLD5000 files in ../shared/bold5000.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import release_tree as rt

from bold5000_ae.prepare.provenance import read_provenance
from tests.helpers.opened_files import OpenedFiles, available

# one xdist worker runs this module: its module-scoped synthetic is built once
pytestmark = pytest.mark.xdist_group("provenance")

BIN = Path(sys.executable).parent
# the label tables the package ships (labels_release.py) are inputs too, when a rule reads them
RESOURCES = Path(__file__).resolve().parents[1] / "bold5000_ae/prepare/resources"
needs_inotify = pytest.mark.skipif(not available(), reason="inotify needs Linux")


def run(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``bold5000-ae-<name> <args>`` as a user types it, project folder in ``cwd``."""
    env = {**os.environ, "PROJECT_ROOT": str(cwd)}
    return subprocess.run([str(BIN / f"bold5000-ae-{name}"), *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def recorded(path: Path) -> dict:
    with h5py.File(path, "r") as h5:
        made = read_provenance(h5)
    assert made is not None
    return made


def check_inputs_are_the_opened_files(made: dict, opened: set[Path], roots: list[Path]) -> None:
    """The recorded set is exactly what was opened below the input folders (and the package's
    label tables), each file with its SHA-256 and size."""
    roots = [*roots, RESOURCES]
    opened = {p for p in opened if p.suffix not in (".py", ".pyc")}  # code: by its version
    paths = {Path(e["path"]) for e in made["inputs"]}
    below = {p for p in paths if any(r.resolve() in p.parents for r in roots)}
    assert below == paths  # nothing recorded outside the inputs
    assert paths == opened, (sorted(opened - paths)[:5], sorted(paths - opened)[:5])
    for entry in made["inputs"]:
        data = Path(entry["path"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["bytes"] == len(data)


def watched_prepare(roots: list[Path], args: tuple[str, ...], output: Path,
                    cwd: Path) -> tuple[subprocess.CompletedProcess, set[Path]]:
    """``bold5000-ae-prepare <args>`` while the kernel reports every file opened below ``roots``
    and the package's label tables. inotify cannot say which process opened a file, so another
    xdist worker reading the same tables or shared files at that moment shows up here too: when
    files were opened that the output does not record, the command runs once more on a fresh
    output (a prepare that really opens a file without recording it does so both times)."""
    for attempt in (1, 2):
        with OpenedFiles([*roots, RESOURCES]) as seen:
            done = run("prepare", *args, cwd=cwd)
        if done.returncode != 0 or attempt == 2:
            break
        recorded_paths = {Path(e["path"]) for e in recorded(output)["inputs"]}
        if not {p for p in seen.files if p.suffix not in (".py", ".pyc")} - recorded_paths:
            break
        output.unlink()
    return done, seen.files


@pytest.fixture(scope="module")
def synthetic(synthetic_raw: Path, tmp_path_factory: pytest.TempPathFactory):
    """The tiny synthetic data copied (verify tests edit it), prepared by the console script
    while the kernel reports every file opened below it."""
    work = tmp_path_factory.mktemp("provenance")
    raw = work / "raw"
    shutil.copytree(synthetic_raw, raw)
    output = work / "out" / "tiny.h5"
    args = ("source=synthetic", f"source.root={raw}", f"output={output}")
    done, opened = watched_prepare([raw], args, output, work)
    assert done.returncode == 0, done.stderr
    return raw, output, opened, args


@needs_inotify
@pytest.mark.subprocess
def test_synthetic_bids_inputs_are_every_file_opened(synthetic) -> None:
    raw, output, opened, args = synthetic
    made = recorded(output)
    check_inputs_are_the_opened_files(made, opened, [raw])
    kinds = Counter(Path(e["path"]).name.split("_")[-1] for e in made["inputs"]
                    if "/bids/" in e["path"])
    # 4 runs (2 sessions x 2): BOLD and events each, and the brain mask
    assert kinds["bold.nii.gz"] == 4 and kinds["events.tsv"] == 4
    assert kinds["brainmask.nii.gz"] == 1
    names = {Path(e["path"]).name for e in made["inputs"]}
    assert {"labels.tsv", "ground_truth.json"} <= names
    images = [e for e in made["inputs"] if "/Presented_Stimuli/" in e["path"]]
    with h5py.File(output, "r") as h5:
        assert len(images) == int(h5["image_present"][()].sum()) > 0


@needs_inotify
@pytest.mark.subprocess
def test_release_tree_inputs_include_files_hdf5_opened(tmp_path: Path) -> None:
    """ROI file and one session's presentation files are MATLAB v7.3 (HDF5, opened from C)."""
    tree = tmp_path / "BOLD5000"
    rt.write_stimuli(tree, v73_sessions=(2,))
    rt.write_release1(tree, "mat73")
    output = tmp_path / "out" / "roi.h5"
    done, opened = watched_prepare([tree], ("source=roi", f"source.root={tree}",
                                            f"output={output}"), output, tmp_path)
    assert done.returncode == 0, done.stderr
    made = recorded(output)
    check_inputs_are_the_opened_files(made, opened, [tree])
    names = {Path(e["path"]).name for e in made["inputs"]}
    assert {"CSI1_ROIs_TR34.mat", "CSI_sess02_run01.mat", "coco_final_annotations.pkl",
            "imagenet_final_labels.txt", "coco_categories.tsv"} <= names


@needs_inotify
@pytest.mark.subprocess
def test_real_bold5000_inputs_are_every_file_opened(shared_bold5000: Path,
                                                    tmp_path: Path) -> None:
    output = tmp_path / "real.h5"
    done, opened = watched_prepare(
        [shared_bold5000], ("source=volumes", f"source.root={shared_bold5000}/sample_volumes",
                            f"source.events_root={shared_bold5000}/events",
                            f"labels.wordnet_is_a={shared_bold5000}/labels/wordnet.is_a.txt",
                            "image_size=8", f"output={output}"), output, tmp_path)
    assert done.returncode == 0, done.stderr
    made = recorded(output)
    check_inputs_are_the_opened_files(made, opened, [shared_bold5000])
    volumes = [e for e in made["inputs"] if "_volume" in e["path"]]
    assert len(volumes) == 15
    assert any(e["path"].endswith("wordnet.is_a.txt") for e in made["inputs"])


@pytest.mark.subprocess
def test_provenance_names_libraries_config_and_command(synthetic) -> None:
    raw, output, _, args = synthetic
    made = recorded(output)
    for name in ("nilearn", "nibabel", "numpy", "scipy", "h5py", "bold5000_ae"):
        assert made["versions"][name] == metadata.version(name)
    assert "torch" not in made["versions"]
    assert made["argv"][1:] == list(args)
    assert made["command_line"].startswith("bold5000-ae-prepare source=synthetic")
    config = made["config"]
    assert config["output"] == str(output) and config["source"]["root"] == str(raw)
    assert config["source"]["reader"]["_target_"].endswith("BidsSource")
    with h5py.File(output, "r") as h5:  # the same config as the prepare_config attribute
        assert json.loads(h5.attrs["prepare_config"]) == config


@pytest.mark.subprocess
def test_info_prints_shape_counts_and_provenance(synthetic, tmp_path: Path) -> None:
    _, output, _, _ = synthetic
    with h5py.File(output, "r") as h5:
        n, v = h5["bold"].shape
        trials = pd.DataFrame({k: h5["trials"][k][()] for k in h5["trials"]})
    shown = trials.drop_duplicates(["subject", "session", "run", "trial"])
    as_json = run("info", str(output), "--json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    info = json.loads(as_json.stdout)
    assert info["bold_shape"] == [n, v] and info["voxels"] == v
    assert info["subjects"] == [1] and info["sessions"] == {"CSI1": [1, 2]}
    assert info["labels"] == {name: int((trials.label == k).sum())
                              for name, k in (("living", 1), ("non_living", 0),
                                              ("unknown", -1)) if (trials.label == k).any()}
    assert info["repeats"] == {str(k): int(c) for k, c in
                               sorted(Counter(shown.repeat_index).items())}
    assert len(info["provenance"]["inputs"]) == len(recorded(output)["inputs"])
    text = run("info", str(output), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert f"{n:,} samples x {v:,} voxels" in text.stdout
    assert "nilearn " + metadata.version("nilearn") in text.stdout
    assert "bold5000-ae-prepare source=synthetic" in text.stdout
    assert f"inputs: {len(info['provenance']['inputs'])} files" in text.stdout


@pytest.mark.subprocess
@pytest.mark.parametrize("bad", ["missing", "not_hdf5"])
def test_info_refuses_a_bad_file_in_one_line(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "x.h5"
    if bad == "not_hdf5":
        path.write_text("not a prepared file\n")
    done = run("info", str(path), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.subprocess
def test_verify_passes_then_names_the_edited_input(synthetic) -> None:
    raw, output, _, _ = synthetic
    before = _digest(output)
    work = output.parents[1]
    same = run("prepare", f"verify={output}", cwd=work)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "identical bit for bit" in same.stdout
    events = raw / "bids/sub-CSI1/ses-02/func/sub-CSI1_ses-02_task-5000scenes_run-01_events.tsv"
    table = pd.read_csv(events, sep="\t")
    table.loc[0, "onset"] += 4.0  # the first trial's volumes move two TRs later
    table.to_csv(events, sep="\t", index=False)
    edited = run("prepare", f"verify={output}", cwd=work)
    assert edited.returncode == 1, edited.stdout + edited.stderr
    differs = [line for line in edited.stdout.splitlines() if line.startswith("DIFFERS: ")]
    assert differs[0].startswith(f"DIFFERS: input changed: {events}")
    assert any(line.startswith("DIFFERS: dataset /bold differs") for line in differs)
    assert not any("/trials/" in line or str(events) not in line and "input" in line
                   for line in differs)
    assert _digest(output) == before  # FILE is only read
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # nothing left


@pytest.mark.subprocess
def test_verify_refuses_a_file_without_provenance(synthetic, tmp_path: Path) -> None:
    _, output, _, _ = synthetic
    old = tmp_path / "old.h5"
    shutil.copy(output, old)
    with h5py.File(old, "a") as h5:
        del h5["provenance"]
    done = run("prepare", f"verify={old}", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"error: {old}: records no provenance (prepared by an older "
                                   "bold5000_ae); nothing to rebuild it from")
    assert np.array_equal(h5py.File(old, "r")["bold"][()], h5py.File(output, "r")["bold"][()])
