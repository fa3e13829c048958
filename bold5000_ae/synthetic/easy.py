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
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn.glm.first_level import compute_regressor
from PIL import Image
from scipy.ndimage import gaussian_filter
from sklearn.metrics import roc_auc_score

from bold5000_ae.synthetic.bids_files import (
    SOURCE_FOLDERS,
    bold_header,
    image_names,
    write_events,
    write_stim_lists,
)
from bold5000_ae.synthetic.design import fill_order
from bold5000_ae.synthetic.noise import MOTION_COLUMNS, write_confounds
from bold5000_ae.synthetic.spec import EasySpec


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


def generate_easy(root: Path, spec: EasySpec) -> dict:
    """Write the easy dataset into ``root`` and return its ground truth (also in
    ``ground_truth.json``)."""
    rng = np.random.default_rng(spec.seed)
    grid = tuple(spec.grid)
    mask = brain_mask(grid)
    affine = np.diag([*spec.voxel_size_mm, 1.0])
    affine[:3, 3] = -np.array(grid) * np.array(spec.voxel_size_mm) / 2
    category_map = _smooth_field(rng, grid, spec.map_smoothness_vox, mask)
    feature_maps = np.stack([_smooth_field(rng, grid, spec.map_smoothness_vox, mask)
                             for _ in range(spec.n_features)])
    names, kinds = image_names(rng, spec)
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
                nib.save(nib.Nifti1Image(data, affine, bold_header(spec.tr)),
                         func / f"{stem}_bold.nii.gz")
                write_events(func / f"{stem}_events.tsv", onsets, s, ses, run, shown,
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
    write_stim_lists(root, stim_lists)

    truth = _ground_truth(spec, np.array(signal_parts), np.array(noise_parts),
                          np.array(sample_labels), trial_ids, category_map[mask],
                          feature_maps[:, mask])
    np.savez_compressed(root / "ground_truth.npz", mask=mask, category_map=category_map,
                        feature_maps=feature_maps, image_features=features,
                        image_living=living, image_names=np.array(names))
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    return truth


def _ground_truth(spec: EasySpec, signal: np.ndarray, noise: np.ndarray,
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
