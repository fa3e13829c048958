"""Miniature copies of the official BOLD5000 release trees, with the published names and formats.

One subject (CSI1), two sessions (session 1: runs 1-2, session 2: run 1), 37 trials a run, so 111
trials. Trial i shows ``POOL[i % 8]``; each pool entry carries the label the release's own files
give it by construction (the WordNet class of the synset, the COCO categories written into the
pickle, scenes unknown), so tests derive expected counts from this table, not from the code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io
from PIL import Image

SUBJECT = 1
RUNS_PER_SESSION = [2, 1]
TRIALS_PER_RUN = 37
N_TRIALS = sum(RUNS_PER_SESSION) * TRIALS_PER_RUN
KIND = "TYPED-FITHRF-GLMDENOISE-RR"
# (name, source, label by the release's files, COCO categories written to the pickle)
POOL: list[tuple[str, str, int, list[int] | None]] = [
    ("n01930112_19568.JPEG", "imagenet", 1, None),  # nematode: WordNet living thing
    ("n03733281_29214.JPEG", "imagenet", 0, None),  # maze: WordNet artifact
    ("n07695742_5848.JPEG", "imagenet", -1, None),  # pretzel: food, neither root
    ("COCO_train2014_000000420713.jpg", "coco", 1, [1]),  # person
    ("COCO_train2014_000000488558.jpg", "coco", 0, [3, 6]),  # car, bus
    ("COCO_train2014_000000029114.jpg", "coco", 1, [18, 62]),  # dog + chair: mixed -> living
    ("COCO_train2014_000000539340.jpg", "coco", -1, None),  # not in the pickle
    ("airplanecabin4.jpg", "scenes", -1, None),  # scene: unknown by default policy
]
# The ten ROIs of both releases, in release-1 file order, with tiny widths.
ROI_WIDTHS = {"LHPPA": 3, "RHLOC": 2, "LHLOC": 2, "RHEarlyVis": 4, "RHRSC": 1, "RHOPA": 2,
              "RHPPA": 3, "LHEarlyVis": 4, "LHRSC": 1, "LHOPA": 2}
GRID = (6, 7, 5)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
_FOLDER = {"imagenet": "ImageNet", "coco": "COCO", "scenes": "Scene"}


def trial_image(i: int) -> tuple[str, str, int, list[int] | None]:
    return POOL[i % len(POOL)]


def presented_names() -> list[str]:
    """Names as the stim_lists write them: ``rep_`` on every presentation but the first."""
    seen: set[str] = set()
    out = []
    for i in range(N_TRIALS):
        name = trial_image(i)[0]
        out.append(("rep_" if name in seen else "") + name)
        seen.add(name)
    return out


def expected_labels() -> np.ndarray:
    return np.array([trial_image(i)[2] for i in range(N_TRIALS)])


def session_of_trial() -> np.ndarray:
    runs = np.repeat(np.arange(1, len(RUNS_PER_SESSION) + 1), RUNS_PER_SESSION)
    return np.repeat(runs, TRIALS_PER_RUN)


def write_v73_cells(path: Path, key: str, rows: list[tuple[str, ...]]) -> None:
    """A MATLAB v7.3 cell array as MATLAB writes it: HDF5 with a 512-byte header, refs to chars,
    stored column-major (2 x N for an N x 2 cell)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = np.empty((len(rows[0]), len(rows)), dtype=h5py.ref_dtype)
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                chars = np.frombuffer(text.encode("utf-16-le"), dtype=np.uint16)
                refs[j, i] = f.create_dataset(f"#refs#/{i}_{j}", data=chars[:, None]).ref
        f.create_dataset(key, data=refs)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def write_stimuli(root: Path, v73_sessions: tuple[int, ...] = (2,)) -> Path:
    """``BOLD5000_Stimuli``: presentation lists, imgnames, Image_Labels and the images."""
    stim = root / "BOLD5000_Stimuli"
    lists = stim / "Stimuli_Presentation_Lists" / f"CSI{SUBJECT}"
    presented, trial = presented_names(), 0
    for ses, n_runs in enumerate(RUNS_PER_SESSION, 1):
        folder = lists / f"CSI{SUBJECT}_sess{ses:02d}"
        folder.mkdir(parents=True)
        for run in range(1, n_runs + 1):
            rows = []
            for _ in range(TRIALS_PER_RUN):
                name, source = trial_image(trial)[:2]
                rep = "rep_" if presented[trial].startswith("rep_") else ""
                rows.append((name, rep + source))
                trial += 1
            path = folder / f"CSI_sess{ses:02d}_run{run:02d}.mat"
            if ses in v73_sessions:
                write_v73_cells(path, "cur_img_names", rows)
            else:
                scipy.io.savemat(path, {"cur_img_names": np.array(rows, dtype=object)})
            (path.with_suffix(".txt")).write_text(
                "\n".join(presented[trial - TRIALS_PER_RUN:trial]) + "\n")
    (lists / f"CSI{SUBJECT}_imgnames.txt").write_text(
        "\n".join(n.removeprefix("rep_") for n in presented) + "\n")
    labels = stim / "Image_Labels"
    labels.mkdir(parents=True)
    (labels / "imagenet_final_labels.txt").write_text(
        "n01930112 nematode, nematode worm, roundworm\nn03733281 maze, labyrinth\n"
        "n07695742 pretzel\n")
    annotations = {}
    for name, _, _, categories in POOL:
        if categories:
            image_id = int(name.rsplit("_", 1)[1].split(".")[0])
            annotations[image_id] = [
                {"segmentation": [[1.0, 2.0, 3.0, 4.0]], "area": np.float64(12.5), "iscrowd": 0,
                 "image_id": image_id, "bbox": [1.0, 2.0, 3.0, 4.0], "category_id": c,
                 "id": 1000 + k} for k, c in enumerate(categories)]
    with open(labels / "coco_final_annotations.pkl", "wb") as fh:
        pickle.dump(annotations, fh, protocol=2)
    (labels / "scene_final_labels.txt").write_text("airplanecabin4.jpg airplane cabin\n")
    presented_dir = stim / "Scene_Stimuli" / "Presented_Stimuli"
    for k, (name, source, _, _) in enumerate(POOL):
        (presented_dir / _FOLDER[source]).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), (20 * k, 100, 200)).save(presented_dir / _FOLDER[source] / name)
    return stim


def _session_data(rng: np.random.Generator, width: int) -> np.ndarray:
    """(trials, width) with a different offset and scale per session, as betas drift."""
    scale = np.repeat([1.0, 3.0], [n * TRIALS_PER_RUN for n in RUNS_PER_SESSION])[:, None]
    return (rng.standard_normal((N_TRIALS, width)) * scale + scale * 5).astype(np.float64)


def write_release1(root: Path, fmt: str = "mat") -> np.ndarray:
    """Release 1: ``ROIs/CSI1/{mat,h5}/CSI1_ROIs_TR34.*`` and ``ROIs/stim_lists/CSI01_...``.

    ``fmt``: ``mat`` (MATLAB v5), ``mat73`` (v7.3 .mat, (voxels, trials) as MATLAB stores it) or
    ``h5``. Returns the (trials, voxels) columns in ROI_WIDTHS order."""
    rng = np.random.default_rng(0)
    arrays = {r: _session_data(rng, w) for r, w in ROI_WIDTHS.items()}
    folder = root / "ROIs" / f"CSI{SUBJECT}" / ("h5" if fmt == "h5" else "mat")
    folder.mkdir(parents=True)
    if fmt == "mat":
        scipy.io.savemat(folder / f"CSI{SUBJECT}_ROIs_TR34.mat", arrays)
    else:
        path = folder / f"CSI{SUBJECT}_ROIs_TR34.{'h5' if fmt == 'h5' else 'mat'}"
        with h5py.File(path, "w", userblock_size=512 if fmt == "mat73" else 0) as h5:
            for name, data in arrays.items():
                h5.create_dataset(name, data=data.T if fmt == "mat73" else data)
    (root / "ROIs" / "stim_lists").mkdir()
    (root / "ROIs" / "stim_lists" / f"CSI{SUBJECT:02d}_stim_lists.txt").write_text(
        "\n".join(presented_names()) + "\n")
    return np.concatenate(list(arrays.values()), axis=1)


def write_roi_betas(root: Path) -> dict[str, np.ndarray]:
    """Release 2: ``BOLD5000_GLMsingle_ROI_betas/py/CSI1_GLMbetas-..._allses_{ROI}.npy``."""
    rng = np.random.default_rng(1)
    folder = root / "BOLD5000_GLMsingle_ROI_betas" / "py"
    folder.mkdir(parents=True)
    arrays = {r: _session_data(rng, w).astype(np.float32) for r, w in ROI_WIDTHS.items()}
    for roi, data in arrays.items():
        np.save(folder / f"CSI{SUBJECT}_GLMbetas-{KIND}_allses_{roi}.npy", data)
    return arrays


def write_betas(root: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """Release 2 whole brain: per-session (X, Y, Z, trials) betas and ``CSI1_brainmask``."""
    rng = np.random.default_rng(2)
    folder = root / "BOLD5000_GLMsingle_betas" / f"CSI{SUBJECT}"
    folder.mkdir(parents=True)
    mask = np.zeros(GRID, np.uint8)
    mask[1:5, 1:6, 1:4] = 1
    nib.save(nib.Nifti1Image(mask, AFFINE), folder / f"CSI{SUBJECT}_brainmask.nii.gz")
    rows = []
    for ses, n_runs in enumerate(RUNS_PER_SESSION, 1):
        data = rng.normal(2.0 * ses, ses, (*GRID, n_runs * TRIALS_PER_RUN)).astype(np.float32)
        nib.save(nib.Nifti1Image(data, AFFINE),
                 folder / f"CSI{SUBJECT}_GLMbetas-{KIND}_ses-{ses:02d}.nii.gz")
        rows.append(data[mask > 0].T)
    return mask > 0, rows


def write_volumes(root: Path) -> np.ndarray:
    """Preprocessed volumes of session 1 run 1: ``CSI1_session1_run1_volume{k}.nii.gz``, three a
    trial, a Gaussian bright blob (EPI-like, so nilearn's mask finds it). Returns the volumes
    (k, X, Y, Z)."""
    rng = np.random.default_rng(3)
    folder = root / "volumes"
    folder.mkdir(parents=True)
    grid = (12, 12, 10)
    c = np.indices(grid).astype(float)
    base = 10000 * np.exp(-((c[0] - 5.5) ** 2 + (c[1] - 5.5) ** 2 + (c[2] - 4.5) ** 2) / 18)
    volumes = []
    for k in range(1, TRIALS_PER_RUN * 3 + 1):
        data = (base + rng.normal(0, 30, grid)).astype(np.float32)
        nib.save(nib.Nifti1Image(data, np.eye(4)),
                 folder / f"CSI{SUBJECT}_session1_run1_volume{k}.nii.gz")
        volumes.append(data)
    return np.stack(volumes)
