"""Write one subject's runs (noisy and noise-free twin), one at a time or in parallel.

Why a module: a BOLD5000-sized subject has 142 runs, and writing them one after another on one
core takes most of the synthesis time. Runs are independent once the subject's tuning, noise
fields and presentation order are drawn, except for the random stream: with
``spec.seed_per_run`` every run draws its onsets, gains and noise from its own generator,
seeded by (seed, subject, session, run), so ``n_jobs`` runs can be written at once (joblib
processes) and the files do not depend on ``n_jobs``. Without it the runs share the subject's
stream and are written in order (the default data, unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from joblib import Parallel, delayed

from bold5000_ae.synthetic.bids_files import bold_header, write_events
from bold5000_ae.synthetic.noise import RunNoise, write_confounds
from bold5000_ae.synthetic.tuning import SubjectTuning, run_signal


@dataclass
class SubjectRuns:
    """What every run of one subject needs (small arrays: pickled once per parallel run)."""

    subject: int
    trees: list[Path]
    mask: np.ndarray
    affine: np.ndarray
    baseline: np.ndarray
    tuning: SubjectTuning
    noise: RunNoise
    tr: float
    volumes_per_run: int
    trial_gain_sd: float


def write_subject_runs(ctx: SubjectRuns, layout: list[tuple[int, int]], order: np.ndarray,
                       presented: list[str], kinds: list[str], resp: np.ndarray,
                       trials_per_run: int, rng: np.random.Generator, seed: int | None,
                       n_jobs: int = 1) -> None:
    """Every run of ``layout`` (session, run): trial block k shows ``order[k*T:(k+1)*T]``.

    ``seed`` None: runs draw from ``rng`` in order (one stream). Otherwise each run gets
    ``default_rng([seed, subject, session, run])`` and they run ``n_jobs`` at a time."""
    jobs = []
    for block, (ses, run) in enumerate(layout):
        k = block * trials_per_run
        imgs = order[k:k + trials_per_run]
        args = (ses, run, k + trials_per_run, presented[k:k + trials_per_run],
                [kinds[j] for j in imgs], resp[imgs])
        if seed is None:
            write_run(ctx, *args, rng)
        else:
            jobs.append(args)
    if not jobs:
        return
    if n_jobs == 1:
        for args in jobs:
            write_run(ctx, *args, _run_rng(seed, ctx.subject, args[0], args[1]))
        return
    Parallel(n_jobs=n_jobs)(delayed(write_run)(ctx, *args,
                                               _run_rng(seed, ctx.subject, args[0], args[1]))
                            for args in jobs)


def _run_rng(seed: int, subject: int, ses: int, run: int) -> np.random.Generator:
    return np.random.default_rng([seed, subject, ses, run])


def write_run(ctx: SubjectRuns, ses: int, run: int, events_seed: int, shown: list[str],
              kinds: list[str], resp: np.ndarray, rng: np.random.Generator) -> None:
    """One run: signal from the shown images' responses, noise, and the files of both trees
    (BOLD, confounds, events). ``events_seed`` keeps the event files' extra columns as they
    were (drawn from their own small generator)."""
    frame_times = np.arange(ctx.volumes_per_run) * ctx.tr
    n = len(shown)
    onsets = 6.0 + 10.0 * np.arange(n) + rng.uniform(0, 0.04, n)
    gains = 1 + ctx.trial_gain_sd * rng.standard_normal(n)
    signal = run_signal(ctx.tuning, resp, onsets, frame_times, gains)
    run_noise, confounds = ctx.noise.draw(frame_times, rng)
    sub = f"sub-CSI{ctx.subject}"
    stem = f"{sub}_ses-{ses:02d}_task-5000scenes_run-{run:02d}"
    clean = np.tile(ctx.baseline[ctx.mask], (len(frame_times), 1))
    clean[:, ctx.tuning.voxels] += signal
    for bids, data in zip(ctx.trees, (clean + run_noise, clean)):
        func = bids / sub / f"ses-{ses:02d}" / "func"
        func.mkdir(parents=True, exist_ok=True)
        save_run(func / f"{stem}_bold.nii.gz", data, ctx.mask, ctx.affine, ctx.tr)
        write_confounds(func / f"{stem}_desc-confounds_timeseries.tsv", confounds)
        write_events(func / f"{stem}_events.tsv", onsets, ctx.subject, ses, run, shown, kinds,
                     np.random.default_rng(events_seed + ctx.subject))


def save_run(path: Path, data: np.ndarray, mask: np.ndarray, affine: np.ndarray,
             tr: float) -> None:
    """(frames, voxels) in-mask rows -> a 4-D float32 NIfTI, zero outside the brain."""
    volume = np.zeros((*mask.shape, len(data)), np.float32)
    volume[mask] = data.T
    nib.save(nib.Nifti1Image(volume, affine, bold_header(tr)), path)
