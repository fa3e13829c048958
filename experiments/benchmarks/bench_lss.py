"""Benchmark: CPU seconds per run of LSS single-trial betas (``source.reader.mode=lss``) against
sampling the 4-8 s volumes, and against nilearn's ``FirstLevelModel`` fitted once per trial.

What is timed, per run, one BLAS thread (``threadpoolctl``; prepare's ``n_jobs`` workers run one
thread each too), CPU seconds of this process (user + system, stable on a shared machine):

- ``each``: the reader's ``load`` in mode ``each`` (read, mask, clean once, pick volumes);
- ``lss``: the same ``load`` in mode ``lss``: read, mask and clean once, then one OLS
  ``run_glm`` per trial on the cleaned (T, V) rows; ``lss_fits`` is the part after cleaning;
- ``first_level_model``: the alternative of fitting nilearn's ``FirstLevelModel`` per trial on
  the 4-D run (it takes images, not masked rows, so each fit masks and cleans the run again);
  ``--flm-trials`` trials are fitted and the per-run figure extrapolated to all trials.

    python -m experiments.benchmarks.bench_lss --root data/synthetic --name 24x28x24_visual
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from experiments.benchmarks.common import RESULTS, load, machine_info, write_json

MASKS = {"visual": "sub-CSI{subject}_mask-visual.nii.gz",
         "brain": "sub-CSI{subject}_brainmask.nii.gz"}
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(step: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), _cpu_s()
    result = step()
    return result, round(_cpu_s() - c0, 2), round(time.perf_counter() - t0, 2)


def _source(root: Path, mode: str, mask: str) -> Any:
    """The default preparation (conf/source/synthetic_visual.yaml): visual voxels (or the whole
    brain), linear cleaning with the motion and cosine columns of the confounds file."""
    from bold5000_ae.prepare.sources.bids import BidsSource

    bids = root / "bids"
    columns = pd.read_csv(next(bids.rglob("*_desc-confounds_timeseries.tsv")), sep="\t").columns
    return BidsSource(bids, mode=mode, standardize=False, high_pass=None,
                      mask=str(bids / "derivatives/masks" / MASKS[mask]),
                      confounds=MOTION + [c for c in columns if c.startswith("cosine")])


def first_level_model(source: Any, unit: str, trials: int) -> dict[str, Any]:
    """CPU seconds of ``FirstLevelModel`` fitted per trial (OLS, the reader's mask and nuisance
    columns in the design), for ``trials`` trials."""
    import nibabel as nib
    from nilearn.glm.first_level import FirstLevelModel

    from bold5000_ae.prepare.events import read_events
    from bold5000_ae.prepare.sources.lss import nuisance_columns, trial_designs

    run = source._runs[unit]
    img = nib.load(run.bold)
    events = read_events(run.events)
    tr = float(img.header.get_zooms()[3])
    confounds = source._confounds(run, img.shape[3])
    designs = trial_designs(events["onset"].to_numpy(), events["duration"].to_numpy(float),
                            img.shape[3], tr, nuisance_columns(img.shape[3], confounds, True),
                            None)
    c0 = _cpu_s()
    for _, (design, column) in zip(range(trials), designs, strict=False):
        names = [f"c{i}" for i in range(design.shape[1])]
        model = FirstLevelModel(t_r=tr, mask_img=source._mask_img, noise_model="ols",
                                signal_scaling=False, minimize_memory=True)
        model.fit(img, design_matrices=pd.DataFrame(design, columns=names))
        model.compute_contrast(names[column], output_type="effect_size")
    cpu = _cpu_s() - c0
    return {"trials_fitted": trials, "cpu_s_per_trial": round(cpu / trials, 2),
            "cpu_s_per_run": round(cpu / trials * len(events), 1)}


def measure(root: Path, mask: str, flm_trials: int) -> dict[str, Any]:
    """Per-run CPU seconds of each mode on the first run, the split of lss into cleaning and
    fits, and the FirstLevelModel alternative."""
    import nibabel as nib

    from bold5000_ae.prepare.events import read_events
    from bold5000_ae.prepare.sources.lss import lss_betas, nuisance_columns
    from bold5000_ae.prepare.sources.run_cleaning import clean_run

    out: dict[str, Any] = {}
    with threadpool_limits(1):
        for mode in ("each", "lss"):
            source = _source(root, mode, mask)
            source.mask_and_affine()
            unit = source.units()[0]
            samples, cpu, wall = _timed(lambda s=source, u=unit: s.load(u))
            out[mode] = {"cpu_s_per_run": cpu, "wall_s_per_run": wall,
                         "rows": int(samples.bold.shape[0]), "voxels": int(samples.bold.shape[1])}
        run = source._runs[unit]
        img = nib.load(run.bold)
        tr = float(img.header.get_zooms()[3])
        confounds = source._confounds(run, img.shape[3])
        cleaned, cpu_clean, _ = _timed(lambda: clean_run(img, source._mask_img, tr, confounds,
                                                         source.clean_kwargs))
        events = read_events(run.events)
        _, cpu_fits, _ = _timed(lambda: lss_betas(
            cleaned, events["onset"].to_numpy(), events["duration"].to_numpy(float), tr,
            nuisance_columns(len(cleaned), confounds, True), None))
        out["lss"].update(clean_cpu_s=cpu_clean, lss_fits_cpu_s=cpu_fits,
                          trials=len(events), frames=int(img.shape[3]),
                          grid=list(img.shape[:3]))
        out["first_level_model"] = first_level_model(source, unit, flm_trials)
    out["lss_over_each"] = round(out["lss"]["cpu_s_per_run"] / out["each"]["cpu_s_per_run"], 2)
    out["first_level_model_over_lss"] = round(out["first_level_model"]["cpu_s_per_run"]
                                              / out["lss"]["cpu_s_per_run"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="a bold5000-ae-synth folder")
    parser.add_argument("--name", required=True, help="results/lss_<name>_cpu.json")
    parser.add_argument("--mask", choices=sorted(MASKS), default="visual")
    parser.add_argument("--flm-trials", type=int, default=3)
    args = parser.parse_args()
    before = load()
    result = {"benchmark": "lss", "root": str(args.root), "mask": args.mask,
              **measure(args.root, args.mask, args.flm_trials)}
    result.update(load_before=before, load_after=load(), machine=machine_info())
    path = write_json(RESULTS / f"lss_{args.name}_cpu.json", result)
    print(path)
    print({k: result[k] for k in ("each", "lss", "first_level_model", "lss_over_each",
                                  "first_level_model_over_lss")})


if __name__ == "__main__":
    main()
