"""``bold5000-ae-fetch`` against a loopback server playing figshare, Dropbox and OpenNeuro's S3
bucket (``tests/helpers/release_server.py``): miniature files under the published names.
Nothing here touches the internet: every base URL is overridden to 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import release_tree as rt

from bold5000_ae.data.hdf5_format import read_prepared
from tests.helpers.release_server import Release, ReleaseServer

# one xdist worker runs this module: its module-scoped release is built once
pytestmark = pytest.mark.xdist_group("fetch")

BIN = Path(sys.executable).parent
BETAS = "CSI1_GLMbetas-TYPED-FITHRF-GLMDENOISE-RR_ses-{:02d}.nii.gz"
RUN = "ds001499/sub-CSI1/ses-{s:02d}/func/sub-CSI1_ses-{s:02d}_task-{task}_run-{r:02d}_{kind}"
ROI_ZIP_ID, STIM_PATH = 12965447, "/s/stimuli/BOLD5000_Stimuli.zip"


def _zip(folder: Path, name: str, out: Path) -> bytes:
    archive = shutil.make_archive(str(out / name), "zip", root_dir=folder, base_dir=name)
    return Path(archive).read_bytes()


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Release, np.ndarray]:
    """Release 1's ROI zip and the stimulus zip (a miniature release tree), release 2 betas of
    two sessions, and two sessions of raw runs (plus a localizer run fetch must skip)."""
    work = tmp_path_factory.mktemp("release")
    tree = work / "tree"
    rt.write_stimuli(tree)
    expected = rt.write_release1(tree, "mat")
    rng = np.random.default_rng(0)
    blob = lambda n: rng.integers(0, 256, n, dtype=np.uint8).tobytes()  # noqa: E731
    objects = {}
    for ses in (1, 2):
        for run in (1, 2):
            objects[RUN.format(s=ses, r=run, task="5000scenes", kind="bold.nii.gz")] = blob(3000)
            objects[RUN.format(s=ses, r=run, task="5000scenes", kind="events.tsv")] = blob(300)
        objects[RUN.format(s=ses, r=1, task="localizer", kind="bold.nii.gz")] = blob(500)
    return Release(
        articles={6459449: [(ROI_ZIP_ID, "BOLD5000_ROIs.zip", _zip(tree, "ROIs", work)),
                            (12965441, "README.txt", b"readme")],
                  14456124: [(100 + s, BETAS.format(s), blob(40_000 + s)) for s in (1, 2)]
                  + [(200, "CSI1_brainmask.nii.gz", blob(700)),
                     (201, "CSI1_imgnames.txt", b"a.jpg\nb.jpg\n"),
                     (202, "CSI2_brainmask.nii.gz", blob(700))]},
        direct={STIM_PATH: _zip(tree, "BOLD5000_Stimuli", work)},
        objects=objects), expected


def fetch(server: ReleaseServer, root: Path, *args: str) -> subprocess.CompletedProcess:
    """``bold5000-ae-fetch <args>`` with every host pointed at the loopback server."""
    env = {**os.environ, "PROJECT_ROOT": str(root.parent)}
    return subprocess.run([str(BIN / "bold5000-ae-fetch"), f"root={root}", "progress=false",
                           *server.overrides(), *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=root.parent)


def _error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _downloads(release: Release) -> list[str]:
    return [p for method, p, _ in release.requests
            if method == "GET" and p.startswith(("/files/", "/s/", "/openneuro.org/"))]


@pytest.mark.subprocess
def test_fetch_then_prepare_the_roi_release(release, tmp_path: Path) -> None:
    """The ROI and stimulus archives land where source=roi reads them: prepare with only
    source.root gives the release's own ROI columns. The stimulus zip (no published checksum)
    gets its first-seen SHA-256 recorded; a rerun downloads nothing."""
    served, expected = release
    root = tmp_path / "BOLD5000"
    with ReleaseServer(served) as server:
        done = fetch(server, root, "parts=[rois,stimuli]")
        assert done.returncode == 0, done.stderr
        zips = served.direct[STIM_PATH]
        registry = json.loads((root / "registry.json").read_text())
        assert registry == {"downloads/BOLD5000_Stimuli.zip":
                            f"sha256:{hashlib.sha256(zips).hexdigest()}"}
        assert (root / "ROIs/CSI1/mat/CSI1_ROIs_TR34.mat").is_file()
        assert (root / "BOLD5000_Stimuli/Image_Labels/coco_final_annotations.pkl").is_file()
        before = len(_downloads(served))
        again = fetch(server, root, "parts=[rois,stimuli]")
        assert again.returncode == 0, again.stderr
        assert len(_downloads(served)) == before  # everything present and valid: no download
    out = tmp_path / "roi.h5"
    prepared = subprocess.run([str(BIN / "bold5000-ae-prepare"), "source=roi",
                               f"source.root={root}", f"output={out}"], capture_output=True,
                              text=True, timeout=180, cwd=tmp_path,
                              env={**os.environ, "PROJECT_ROOT": str(tmp_path)})
    assert prepared.returncode == 0, prepared.stderr
    data = read_prepared(out)
    np.testing.assert_allclose(data.bold, expected.astype(np.float32))
    assert data.image_present.all()
    # the guide's third command, shortened to one epoch: ROI columns train with the MLP (and
    # the default callbacks, whose brain figures need a 3D grid, skip them)
    trained = subprocess.run([str(BIN / "bold5000-ae-train"), f"data.path={out}",
                              "model/net=mlp", "trainer=cpu", "trainer.max_epochs=1",
                              "logger=csv", "~callbacks.progress_bar"],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path,
                             env={**os.environ, "PROJECT_ROOT": str(tmp_path),
                                  "WANDB_MODE": "disabled"})
    assert trained.returncode == 0, trained.stderr[-3000:]
    metrics = json.loads(next((tmp_path / "logs/train/runs").glob("*/metrics.json")).read_text())
    assert np.isfinite(metrics["test/r2"])


@pytest.mark.subprocess
def test_dry_run_lists_files_and_sizes_and_fetches_nothing(release, tmp_path: Path) -> None:
    served, _ = release
    served.requests.clear()
    root = tmp_path / "BOLD5000"
    with ReleaseServer(served) as server:
        done = fetch(server, root, "parts=[rois,stimuli,betas,bids]", "subjects=[1]",
                     "sessions=[2]", "dry_run=true")
    assert done.returncode == 0, done.stderr
    listed = {line.split("│")[1].strip(): line.split("│")[2].strip()
              for line in done.stdout.splitlines() if line.count("│") >= 4}
    want = {"downloads/BOLD5000_ROIs.zip": ROI_ZIP_ID, "downloads/BOLD5000_Stimuli.zip": None,
            BETAS.format(2): 102, "CSI1_brainmask.nii.gz": 200, "CSI1_imgnames.txt": 201}
    sizes = {name: len(data) for files in served.articles.values() for _, name, data in files}
    assert listed["downloads/BOLD5000_ROIs.zip"] == f"{sizes['BOLD5000_ROIs.zip']:,}"
    assert listed["downloads/BOLD5000_Stimuli.zip"] == f"{len(served.direct[STIM_PATH]):,}"
    assert listed[BETAS.format(2)] == f"{40_002:,}"
    runs = {k for k in listed if k.startswith("ds001499/")}
    assert runs == {RUN.format(s=2, r=r, task="5000scenes", kind=kind) for r in (1, 2)
                    for kind in ("bold.nii.gz", "events.tsv")}  # no localizer, no session 1
    assert set(want) <= set(listed) and len(listed) == len(want) + len(runs)
    total = sum(int(size.replace(",", "")) for size in listed.values())
    assert f"{len(listed)} file(s), {total:,} bytes" in done.stdout
    assert f"{total:,} bytes still to download" in done.stdout
    assert not root.exists() and not _downloads(served)


@pytest.mark.subprocess
def test_interrupted_download_resumes_from_its_partial_file(release, tmp_path: Path) -> None:
    """The server hangs up 10,000 bytes into a betas file: one line, the bytes kept as .part;
    the same command asks only for the rest (Range) and the MD5 figshare lists is checked."""
    served, _ = release
    root = tmp_path / "BOLD5000"
    name = BETAS.format(1)
    served.drop["/files/101"] = 10_000
    with ReleaseServer(served) as server:
        first = fetch(server, root, "parts=[betas]", "sessions=[1]")
        assert first.returncode == 2
        line = _error_line(first)
        assert "connection lost" in line and "resumes" in line
        assert (root / f"{name}.part").stat().st_size == 10_000
        assert not (root / name).exists()
        served.requests.clear()
        second = fetch(server, root, "parts=[betas]", "sessions=[1]")
    assert second.returncode == 0, second.stderr
    assert ("GET", "/files/101", "bytes=10000-") in served.requests
    data = dict((n, d) for _, n, d in served.articles[14456124])
    assert (root / name).read_bytes() == data[name]
    assert not (root / f"{name}.part").exists()
    assert (root / "CSI1_imgnames.txt").read_bytes() == data["CSI1_imgnames.txt"]


@pytest.mark.subprocess
def test_corrupted_download_is_refused_in_one_line(release, tmp_path: Path) -> None:
    served, _ = release
    root = tmp_path / "BOLD5000"
    served.corrupt.add("/openneuro.org/" + RUN.format(s=1, r=2, task="5000scenes",
                                                      kind="bold.nii.gz"))
    try:
        with ReleaseServer(served) as server:
            done = fetch(server, root, "parts=[bids]", "sessions=[1]")
    finally:
        served.corrupt.clear()
    assert done.returncode == 2
    line = _error_line(done)
    bad = root / RUN.format(s=1, r=2, task="5000scenes", kind="bold.nii.gz")
    assert line.startswith(f"error: {bad}: checksum mismatch") and "md5" in line
    assert not bad.exists()
    good = root / RUN.format(s=1, r=1, task="5000scenes", kind="bold.nii.gz")
    assert good.read_bytes() == served.objects[RUN.format(s=1, r=1, task="5000scenes",
                                                          kind="bold.nii.gz")]


@pytest.mark.subprocess
def test_first_seen_checksum_is_kept_and_checked(release, tmp_path: Path) -> None:
    """No checksum is published for the stimulus zip: the one first seen is the reference, so
    a later download (or the file on disk) with other bytes is refused."""
    served, _ = release
    root = tmp_path / "BOLD5000"
    original = served.direct[STIM_PATH]
    with ReleaseServer(served) as server:
        assert fetch(server, root, "parts=[stimuli]").returncode == 0
        zip_path = root / "downloads/BOLD5000_Stimuli.zip"
        zip_path.write_bytes(b"X" + original[1:])  # the file on disk changed
        done = fetch(server, root, "parts=[stimuli]")
        assert done.returncode == 2 and "first seen" in _error_line(done)
        assert not zip_path.exists()
        served.direct[STIM_PATH] = original + b"changed upstream"
        try:
            again = fetch(server, root, "parts=[stimuli]")
        finally:
            served.direct[STIM_PATH] = original
    assert again.returncode == 2 and "checksum mismatch (first seen" in _error_line(again)


@pytest.mark.subprocess
def test_offline_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = ReleaseServer.__new__(ReleaseServer)
    closed.base = f"http://127.0.0.1:{port}"
    done = fetch(closed, tmp_path / "BOLD5000", "parts=[betas]")
    assert done.returncode == 2
    line = _error_line(done)
    assert line.startswith(f"error: http://127.0.0.1:{port}/api/articles/14456124/files: "
                           "cannot reach the server (offline?")
