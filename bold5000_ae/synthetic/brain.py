"""The brain generator (``generator: brain``): a brain-shaped BOLD5000, streamed run by run.

Per subject s, run, frame t and in-mask voxel v (notation of tuning.py and noise.py):

    bold[t, v]  = B_v + S[t, v] + noise[t, v]
    clean[t, v] = B_v + S[t, v]          (the noise-free twin, written under noiseless/)
    S[t, v]     = sum_i h_v(t - onset_i) * gain_i * resp_v(image_i),  0 outside visual regions

Why a twin on disk: the reconstruction ceiling must be measured on what a model sees, so the
twin goes through the very same ``bold5000-ae-prepare`` (detrend, high-pass, confounds) and the
ceiling is read on the same test rows (bold5000_ae/evaluation/ceiling.py). Only one run's arrays are
in memory at any time. Beside each subject's brain mask the generator writes its visual ROI
masks (``derivatives/masks/sub-CSI{n}_mask-{LH,RH}{EarlyVis,LOC,...}.nii.gz`` and their union
``mask-visual``); the default preparation (conf/source/synthetic_visual.yaml) keeps those voxels, as
BOLD5000's own analyses use visual ROIs.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from PIL import Image

from bold5000_ae.synthetic import anatomy as anat
from bold5000_ae.synthetic import design
from bold5000_ae.synthetic.bids_files import SOURCE_FOLDERS, image_names, write_stim_lists
from bold5000_ae.synthetic.images import FACTORS, image_factors, render_images
from bold5000_ae.synthetic.noise import RunNoise
from bold5000_ae.synthetic.runs import SubjectRuns, write_subject_runs
from bold5000_ae.synthetic.spec import VISUAL_ROIS, BrainSpec
from bold5000_ae.synthetic.tuning import group_maps, responses, subject_tuning

TWIN = "noiseless"


def generate_brain(root: Path, spec: BrainSpec, n_jobs: int = 1) -> dict:
    """Write the dataset (and its noise-free twin under ``root/noiseless``) into ``root``.
    ``n_jobs``: runs written at once when ``spec.seed_per_run`` (runs.py); else one at a time."""
    rng = np.random.default_rng(spec.seed)
    grid = tuple(int(n) for n in spec.grid)
    vox = np.asarray(spec.voxel_size_mm, float)
    affine = anat.grid_affine(grid, tuple(vox))
    mask, gm = anat.mni_mask_and_gm(grid, affine)
    coords = anat.voxel_mm(affine, grid)
    regions = list(spec.rois)
    centres = {r: VISUAL_ROIS[r] for r in regions}
    sigma_vox = spec.map_smoothness_mm / 2.3548 / float(vox.mean())
    group = group_maps(rng, grid, sigma_vox)

    names, kinds = image_names(rng, spec)
    living = rng.random(spec.unique_images) < spec.living_fraction
    images = render_images(rng, living, spec.image_size)
    factors = image_factors(images, living)
    _write_stimuli(root, names, kinds, images, living)

    trees = [root / "bids"] + ([root / TWIN / "bids"] if spec.write_noiseless else [])
    for bids in trees:
        (bids / "derivatives" / "masks").mkdir(parents=True)
        (bids / "dataset_description.json").write_text(json.dumps(
            {"Name": "bold5000_ae synthetic BOLD5000 (brain generator)", "BIDSVersion": "1.8.0"},
            indent=2))
    n_trials = design.n_trials(spec)
    stim_lists, subjects, saved = {}, [], {}
    for s in range(1, spec.subjects + 1):
        sub = f"sub-CSI{s}"
        for bids in trees:
            nib.save(nib.Nifti1Image(mask.astype(np.uint8), affine),
                     bids / "derivatives" / "masks" / f"{sub}_brainmask.nii.gz")
        shift_mm = rng.normal(0, spec.misregistration_mm / np.sqrt(3), 3)
        weights, label = anat.roi_weights(coords, centres, spec.roi_sigma_mm, spec.roi_cutoff,
                                          shift_mm, mask)
        for name, roi in anat.roi_masks(label, coords, shift_mm, regions).items():
            for bids in trees:
                nib.save(nib.Nifti1Image(roi.astype(np.uint8), affine),
                         bids / "derivatives" / "masks" / f"{sub}_mask-{name}.nii.gz")
        baseline = anat.anatomy(rng, mask, gm, spec.baseline)
        tuning = subject_tuning(rng, group, mask, weights, label, regions, baseline,
                                shift_mm / vox, spec, sigma_vox)
        resp = responses(tuning, factors, spec)
        noise = RunNoise(rng, mask, baseline, coords, anat.BRAIN_CENTRE_MM, vox, spec)
        order = design.presentation_order(rng, spec)
        presented = design.presented_names(order, names)
        stim_lists[sub] = presented
        saved[f"{sub}_roi_weight"], saved[f"{sub}_roi_label"] = weights, label
        saved[f"{sub}_shift_mm"] = shift_mm
        ctx = SubjectRuns(s, trees, mask, affine, baseline, tuning, noise, spec.tr,
                          spec.volumes_per_run, spec.trial_gain_sd)
        write_subject_runs(ctx, design.run_layout(spec), order, presented, kinds, resp,
                           spec.trials_per_run, rng,
                           spec.seed if spec.seed_per_run else None, n_jobs)
        subjects.append({"subject": s, "shift_mm": shift_mm.round(3).tolist(),
                         "visual_voxels": int(len(tuning.voxels)),
                         "visual_fraction": float(len(tuning.voxels) / mask.sum())})
    write_stim_lists(root, stim_lists)
    np.savez_compressed(root / "ground_truth.npz", mask=mask, affine=affine,
                        image_factors=factors, factor_names=np.array(FACTORS),
                        image_living=living, image_names=np.array(names),
                        regions=np.array(regions), **saved)
    truth = {"generator": spec.generator,
             "spec": {k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in asdict(spec).items()},
             "n_samples": int(3 * n_trials * spec.subjects),
             "n_voxels": int(mask.sum()), "subjects": subjects,
             "noiseless_root": TWIN if spec.write_noiseless else None}
    (root / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    return truth


def _write_stimuli(root: Path, names: list[str], kinds: list[str], images: np.ndarray,
                   living: np.ndarray) -> None:
    stim_root = root / "BOLD5000_Stimuli" / "Scene_Stimuli" / "Presented_Stimuli"
    for j, name in enumerate(names):
        folder = stim_root / SOURCE_FOLDERS[kinds[j]]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[j]).save(folder / name, format="JPEG", subsampling=0,
                                        quality=100)
    pd.DataFrame({"image_name": names, "label": living.astype(int)}).to_csv(
        root / "labels.tsv", sep="\t", index=False)
