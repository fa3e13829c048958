"""How close each kind of row comes to the generator's planted per-trial response.

The brain generator plants, per trial i and visual voxel v, the response gain_i x resp_v(image_i)
(``bold5000_ae/synthetic/tuning.py``: ``run_signal``). ``record_planted`` records it where the
generator computes each run's signal, so the score needs nothing the generator does not write.
Score: the median over signal voxels of the across-trial correlation between a prepared row and
the planted response. Rows: LSS betas, the 4/6/8 s window mean, each single volume, and, as the
diagnostic of what LSS gives up, a least-squares-all fit (one GLM, every trial its own regressor)
on the same cleaned rows; for the data and for its noise-free twin.

    python -m experiments.betas_vs_volumes.planted --out /tmp/planted

(the default data's size: 6 runs of 37 trials, about 3 minutes on 2 cores; writes
``planted.json`` here).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bold5000_ae.synthetic import BrainSpec
from bold5000_ae.synthetic import runs as synthetic_runs

HERE = Path(__file__).resolve().parent
MASK = "sub-CSI{subject}_mask-visual.nii.gz"


@contextmanager
def record_planted() -> Iterator[list[np.ndarray]]:
    """While active, every run the brain generator writes appends its (trials, voxels)
    planted response (brain-mask voxel order, zero outside the tuned voxels)."""
    planted: list[np.ndarray] = []
    original = synthetic_runs.run_signal

    def recording(tuning, resp, onsets, frame_times, gains):  # noqa: ANN001, ANN202
        full = np.zeros((len(onsets), int(tuning.voxels.max()) + 1))
        full[:, tuning.voxels] = gains[:, None] * resp
        planted.append(full)
        return original(tuning, resp, onsets, frame_times, gains)

    synthetic_runs.run_signal = recording
    try:
        yield planted
    finally:
        synthetic_runs.run_signal = original


def planted_on(file_mask: np.ndarray, brain: np.ndarray, planted: list[np.ndarray]) -> np.ndarray:
    """The recorded responses on a prepared file's voxels (brain-mask order -> grid -> mask)."""
    rows = []
    for run in planted:
        inside = np.zeros((len(run), int(brain.sum())))
        inside[:, :run.shape[1]] = run
        grid = np.zeros((len(run), *brain.shape))
        grid[:, brain] = inside
        rows.append(grid[:, file_mask])
    return np.concatenate(rows)


def fidelity(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Median over signal voxels of the across-trial correlation with the planted response."""
    signal = truth.std(axis=0) > 0
    e = estimate[:, signal] - estimate[:, signal].mean(0)
    t = truth[:, signal] - truth[:, signal].mean(0)
    r = (e * t).sum(0) / np.sqrt((e ** 2).sum(0) * (t ** 2).sum(0))
    return float(np.median(r))


def linear_source(bids: Path, mode: str, mask_root: Path) -> Any:
    """The default preparation (conf/source/synthetic_visual.yaml) of ``bids`` in ``mode``:
    visual voxels, linear cleaning, motion and cosine confounds."""
    from bold5000_ae.prepare.sources.bids import BidsSource

    columns = pd.read_csv(next(bids.rglob("*_desc-confounds_timeseries.tsv")), sep="\t").columns
    return BidsSource(bids, mode=mode, standardize=False, high_pass=None,
                      mask=str(mask_root / "derivatives/masks" / MASK),
                      confounds=[c for c in columns if c.startswith(("trans", "rot", "cos"))])


def least_squares_all(source: Any, unit: str) -> np.ndarray:
    """(trials, V): one OLS GLM per run with every trial its own regressor, on the rows the
    reader cleans (same nuisance columns as LSS)."""
    import nibabel as nib
    from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

    from bold5000_ae.prepare.events import read_events
    from bold5000_ae.prepare.sources.lss import nuisance_columns
    from bold5000_ae.prepare.sources.run_cleaning import clean_run

    run = source._runs[unit]
    img = nib.load(run.bold)
    tr = float(img.header.get_zooms()[3])
    confounds = source._confounds(run, img.shape[3])
    cleaned = clean_run(img, source._mask_img, tr, confounds, source.clean_kwargs)
    events = read_events(run.events)
    names = [f"trial{i:03d}" for i in range(len(events))]
    nuisance = nuisance_columns(len(cleaned), confounds, True)
    design = make_first_level_design_matrix(
        np.arange(len(cleaned)) * tr,
        pd.DataFrame({"onset": events["onset"], "duration": events["duration"],
                      "trial_type": names}),
        hrf_model="glover", drift_model=None, add_regs=nuisance.to_numpy(float),
        add_reg_names=list(nuisance.columns))
    labels, results = run_glm(cleaned.astype(np.float64), design.to_numpy(float),
                              noise_model="ols")
    return results[labels[0]].theta[[design.columns.get_loc(n) for n in names]]


def measure(root: Path, planted: list[np.ndarray]) -> dict[str, dict[str, float]]:
    brain = np.load(root / "ground_truth.npz")["mask"]
    out: dict[str, dict[str, float]] = {}
    for tree, bids in (("data", root / "bids"), ("twin", root / "noiseless/bids")):
        scores: dict[str, float] = {}
        for mode in ("lss", "mean", "each"):
            source = linear_source(bids, mode, root / "bids")
            mask, _ = source.mask_and_affine()
            loaded = [source.load(u) for u in source.units()]
            bold = np.concatenate([u.bold for u in loaded])
            offsets = np.concatenate([u.samples["offset_s"].to_numpy() for u in loaded])
            truth = planted_on(mask, brain, planted)
            if mode == "each":
                for offset in sorted(set(offsets)):
                    scores[f"volume_{offset:g}s"] = fidelity(bold[offsets == offset], truth)
            else:
                scores[mode] = fidelity(bold, truth)
        scores["least_squares_all"] = fidelity(np.concatenate(
            [least_squares_all(source, u) for u in source.units()]), truth)
        out[tree] = {k: round(v, 3) for k, v in scores.items()}
    return out


def main() -> None:
    from bold5000_ae.synthetic import generate

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    spec = replace(BrainSpec(), seed=args.seed)  # the default data: 6 runs of 37 trials
    with record_planted() as planted:
        generate(args.out / "raw", spec)
    result = {"spec": "BrainSpec() (make data's)", "seed": args.seed,
              **measure(args.out / "raw", planted)}
    (HERE / "planted.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
