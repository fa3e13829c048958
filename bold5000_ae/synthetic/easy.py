"""The ``easy`` synthetic BOLD5000: whole-ellipsoid maps, white noise, linear.

For fast unit tests; the default dataset comes from the brain generator (``brain.py``). It is
written in the real raw formats, with the ground truth it planted.

Why: the default run must go through the real reading and cleaning code (BIDS runs, events.tsv,
stimulus files and list), and later work needs a known answer to be measured against: the
planted patterns, the noise ceiling of reconstruction and the best ROC AUC any living/non-living
classifier could reach.

Generative model, per subject (all in-mask voxels v, frames t of a run):

    bold[t, v] = anatomy[v] * (1 + drift[t]) + sum_i hrf(t - onset_i) * pattern[i, v]
                 + noise_std * eps[t, v]
    pattern[i] = (category_effect * (+1/-1 for living/non-living) + category_jitter * z_i)
                 * category_map + image_effect * features[image_i] @ feature_maps

``z_i`` is a per-trial amplitude fluctuation of the category area (attention, arousal): it makes
the category axis a high-variance direction an autoencoder keeps, while bounding the best
achievable AUC the way trial-to-trial variability does in real data.

``hrf`` is nilearn's Glover HRF (peak scaled to 1). Maps are smooth random fields normalised to
unit RMS inside the mask, so effects and noise are in the same units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import compute_regressor
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

from bold5000_ae.synthetic.design import fill_order
from bold5000_ae.synthetic.noise import MOTION_COLUMNS, write_confounds
from bold5000_ae.synthetic.spec import check_common

EVENT_COLUMNS = ["onset", "duration", "Subj", "Sess", "Run", "Trial", "ImgName", "ImgType",
                 "StimOn(s)", "StimOff(s)", "Response", ""]
SOURCE_FOLDERS = {"imagenet": "ImageNet", "coco": "COCO", "scenes": "Scene"}


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that decides the generated dataset; recorded verbatim in ground_truth.json."""

    generator: str = "easy"
    grid: tuple[int, int, int] = (24, 28, 24)
    voxel_size_mm: tuple[float, float, float] = (6.0, 6.0, 6.0)
    subjects: int = 1
    sessions: int = 2
    runs_per_session: int = 3
    trials_per_run: int = 37
    tr: float = 2.0
    volumes_per_run: int = 194
    unique_images: int = 200
    living_fraction: float = 0.5
    category_effect: float = 0.5
    category_jitter: float = 0.8
    image_effect: float = 1.0
    n_features: int = 6
    noise_std: float = 1.0
    drift_amplitude: float = 0.02
    anatomy_scale: float = 100.0
    map_smoothness_vox: float = 2.0
    image_size: int = 32
    sample_offsets_s: tuple[float, ...] = (4.0, 6.0, 8.0)
    seed: int = 0
    source_mix: dict[str, float] = field(
        default_factory=lambda: {"imagenet": 0.6, "coco": 0.25, "scenes": 0.15})

    def __post_init__(self) -> None:
        check_common(self)


def _smooth_field(rng: np.random.Generator, grid: tuple[int, ...], sigma: float,
                  mask: np.ndarray) -> np.ndarray:
    field_ = gaussian_filter(rng.standard_normal(grid), sigma)
    field_ -= field_[mask].mean()
    field_ /= np.sqrt(np.mean(field_[mask] ** 2))
    return field_ * mask


def brain_mask(grid: tuple[int, int, int]) -> np.ndarray:
    """An ellipsoid filling ~80% of each axis: brain-shaped enough for masking and cropping."""
    axes = [np.linspace(-1, 1, n) for n in grid]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    return (x / 0.8) ** 2 + (y / 0.85) ** 2 + (z / 0.8) ** 2 <= 1.0


def _anatomy(rng: np.random.Generator, mask: np.ndarray, scale: float) -> np.ndarray:
    """Bright cortex-like shell, darker core, smooth texture; zero outside the brain."""
    dist = gaussian_filter(mask.astype(float), 1.5)
    texture = gaussian_filter(rng.standard_normal(mask.shape), 1.0)
    anat = scale * (0.6 + 0.6 * (1 - dist) + 0.05 * texture)
    return np.where(mask, anat, 0.0)


def _image_names(rng: np.random.Generator, spec: SyntheticSpec) -> tuple[list[str], list[str]]:
    kinds = rng.choice(list(spec.source_mix), size=spec.unique_images,
                       p=np.array(list(spec.source_mix.values())) / sum(spec.source_mix.values()))
    names = []
    for j, kind in enumerate(kinds):
        if kind == "imagenet":
            names.append(f"n9{j % 7:07d}_{1000 + j}.JPEG")
        elif kind == "coco":
            names.append(f"COCO_train2014_{j:012d}.jpg")
        else:
            names.append(f"synthscene{j:04d}.jpg")
    return names, list(kinds)


def _render_image(features: np.ndarray, living: bool, bases: np.ndarray) -> np.ndarray:
    """An RGB picture whose colours and textures are a fixed function of the planted features,
    so an image-to-latent network has something learnable to find."""
    logits = np.tensordot(features, bases[:-1], axes=1) + (1.5 if living else -1.5) * bases[-1]
    return (255 / (1 + np.exp(-logits))).astype(np.uint8)


def _unit_hrf_regressors(onsets: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """(frames, trials) Glover-HRF responses to 1 s events, scaled so an isolated peak is 1."""
    cols = []
    for onset in onsets:
        reg, _ = compute_regressor(np.array([[onset], [1.0], [1.0]]), "glover", frame_times)
        cols.append(reg[:, 0])
    peak, _ = compute_regressor(np.array([[0.0], [1.0], [1.0]]), "glover",
                                np.arange(0, 40, 0.1))
    return np.stack(cols, axis=1) / peak.max()


def generate_easy(root: Path, spec: SyntheticSpec) -> dict:
    rng = np.random.default_rng(spec.seed)
    grid = tuple(spec.grid)
    mask = brain_mask(grid)
    affine = np.diag([*spec.voxel_size_mm, 1.0])
    affine[:3, 3] = -np.array(grid) * np.array(spec.voxel_size_mm) / 2
    category_map = _smooth_field(rng, grid, spec.map_smoothness_vox, mask)
    feature_maps = np.stack([_smooth_field(rng, grid, spec.map_smoothness_vox, mask)
                             for _ in range(spec.n_features)])
    names, kinds = _image_names(rng, spec)
    living = rng.random(spec.unique_images) < spec.living_fraction
    features = rng.standard_normal((spec.unique_images, spec.n_features))
    image_bases = np.stack([gaussian_filter(rng.standard_normal((spec.image_size,
                            spec.image_size, 3)), (3, 3, 0)) * 6
                            for _ in range(spec.n_features + 1)])

    stim_root = root / "BOLD5000_Stimuli" / "Scene_Stimuli" / "Presented_Stimuli"
    for j, name in enumerate(names):
        folder = stim_root / SOURCE_FOLDERS[kinds[j]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_render_image(features[j], living[j], image_bases)).save(
            folder / name, format="JPEG", quality=95)
    pd.DataFrame({"image_name": names, "label": living.astype(int)}).to_csv(
        root / "labels.tsv", sep="\t", index=False)

    patterns = (spec.category_effect * np.where(living, 1.0, -1.0)[:, None] * category_map[mask]
                + spec.image_effect * features @ feature_maps[:, mask])  # (images, voxels)
    bids = root / "bids"
    bids.mkdir()
    (bids / "dataset_description.json").write_text(json.dumps(
        {"Name": "bold5000_ae synthetic BOLD5000", "BIDSVersion": "1.8.0"}, indent=2))
    mask_dir = bids / "derivatives" / "masks"
    mask_dir.mkdir(parents=True)

    n_trials = spec.sessions * spec.runs_per_session * spec.trials_per_run
    frame_times = np.arange(spec.volumes_per_run) * spec.tr
    signal_parts, noise_parts, sample_labels, trial_ids = [], [], [], []
    stim_lists = {}
    for s in range(1, spec.subjects + 1):
        sub = f"sub-CSI{s}"
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine),
                 mask_dir / f"{sub}_brainmask.nii.gz")
        anatomy = _anatomy(rng, mask, spec.anatomy_scale)
        order = fill_order(rng, spec.unique_images, n_trials)
        seen: set[int] = set()
        presented = []
        for j in order:
            presented.append(("rep_" if j in seen else "") + names[j])
            seen.add(j)
        stim_lists[sub] = presented
        k = 0
        for ses in range(1, spec.sessions + 1):
            func = bids / sub / f"ses-{ses:02d}" / "func"
            func.mkdir(parents=True)
            for run in range(1, spec.runs_per_session + 1):
                imgs = order[k:k + spec.trials_per_run]
                shown = presented[k:k + spec.trials_per_run]
                k += spec.trials_per_run
                onsets = 6.0 + 10.0 * np.arange(len(imgs)) + rng.uniform(0, 0.04, len(imgs))
                regs = _unit_hrf_regressors(onsets, frame_times)
                jitter = spec.category_jitter * rng.standard_normal(len(imgs))
                signal = regs @ (patterns[imgs] + jitter[:, None] * category_map[mask])
                drift = spec.drift_amplitude * np.cumsum(rng.standard_normal(len(frame_times)))
                drift = gaussian_filter(drift, 8) + spec.drift_amplitude * frame_times / 100
                noise = spec.noise_std * rng.standard_normal(signal.shape)
                data = np.zeros((*grid, len(frame_times)), np.float32)
                data[mask] = (anatomy[mask][None] * (1 + drift[:, None]) + signal + noise).T
                stem = f"{sub}_ses-{ses:02d}_task-5000scenes_run-{run:02d}"
                nib.save(nib.Nifti1Image(data, affine, _bold_header(spec.tr)),
                         func / f"{stem}_bold.nii.gz")
                _write_events(func / f"{stem}_events.tsv", onsets, s, ses, run, shown,
                              [kinds[j] for j in imgs], rng)
                write_confounds(func / f"{stem}_desc-confounds_timeseries.tsv", pd.DataFrame(
                    0.0, index=frame_times, columns=list(MOTION_COLUMNS)))  # no motion
                for trial, onset in enumerate(onsets):
                    for off in spec.sample_offsets_s:
                        f = int(round((onset + off) / spec.tr))
                        signal_parts.append(signal[f])
                        noise_parts.append(noise[f])
                        sample_labels.append(int(living[imgs[trial]]))
                        trial_ids.append((s, ses, run, trial))
    lists_dir = root / "BOLD5000_Stimuli" / "Image_Labels"
    lists_dir.mkdir(parents=True)
    for sub, presented in stim_lists.items():
        (lists_dir / f"{sub.removeprefix('sub-')}_stim_lists.txt").write_text(
            "\n".join(presented) + "\n")

    truth = _ground_truth(spec, np.array(signal_parts), np.array(noise_parts),
                          np.array(sample_labels), trial_ids, category_map[mask],
                          feature_maps[:, mask])
    np.savez_compressed(root / "ground_truth.npz", mask=mask, category_map=category_map,
                        feature_maps=feature_maps, image_features=features,
                        image_living=living, image_names=np.array(names))
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    return truth


def _bold_header(tr: float) -> nib.Nifti1Header:
    header = nib.Nifti1Header()
    header.set_xyzt_units("mm", "sec")
    header["pixdim"][4] = tr
    return header


def _write_events(path: Path, onsets: np.ndarray, sub: int, ses: int, run: int,
                  shown: list[str], kinds: list[str], rng: np.random.Generator) -> None:
    """Same columns as the real files, including the unnamed reaction-time column."""
    img_type = [("rep_" if n.startswith("rep_") else "") + k for n, k in zip(shown, kinds)]
    durations = rng.uniform(0.96, 1.0, len(onsets))
    rows = pd.DataFrame({
        "onset": onsets.round(4), "duration": durations.round(4), "Subj": sub, "Sess": ses,
        "Run": run, "Trial": np.arange(1, len(onsets) + 1), "ImgName": shown,
        "ImgType": img_type, "StimOn(s)": onsets.round(4),
        "StimOff(s)": (onsets + durations).round(4),
        "Response": rng.integers(1, 4, len(onsets)), "": rng.uniform(0.5, 4, len(onsets)).round(4),
    })
    rows.to_csv(path, sep="\t", index=False)


def _ground_truth(spec: SyntheticSpec, signal: np.ndarray, noise: np.ndarray,
                  labels: np.ndarray, trial_ids: list, category: np.ndarray,
                  features: np.ndarray) -> dict:
    """Noise ceiling of reconstruction and the oracle's living/non-living AUC.

    Noise ceiling: the R² of the noiseless signal as a reconstruction of the sampled volumes,
    with every voxel weighted equally (as after per-voxel normalisation): the mean over voxels of
    var(signal)/var(signal + noise). Oracle AUC: the optimal linear read-out that knows the
    planted maps, w = Σ⁻¹ category_map with Σ the covariance of everything that is not the
    category (image features, white noise; the jitter lies along the category map itself and
    so does not change the direction), applied to the samples.
    """
    total = signal + noise
    var_sig = signal.var(axis=0)
    ceiling = float(np.mean(var_sig / total.var(axis=0)))
    # Woodbury: (σ²I + a² FᵀF)⁻¹ c without forming a V×V matrix.
    a2, s2 = max(spec.image_effect ** 2, 1e-12), max(spec.noise_std ** 2, 1e-6)
    inner = np.linalg.inv(np.eye(features.shape[0]) / a2 + features @ features.T / s2)
    w = category / s2 - features.T @ (inner @ (features @ category)) / s2 ** 2
    score = total @ w
    trial_key = ["-".join(map(str, t)) for t in trial_ids]
    trial_score = pd.Series(score).groupby(trial_key).mean()
    trial_labels = pd.Series(labels).groupby(trial_key).first()
    return {
        "spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(spec).items()},
        "n_samples": int(len(labels)),
        "living_fraction_samples": float(labels.mean()),
        "noise_ceiling_r2": ceiling,
        "oracle_auc_volume": float(roc_auc_score(labels, score)),
        "oracle_auc_trial_mean": float(roc_auc_score(trial_labels[trial_score.index],
                                                     trial_score.values)),
    }
