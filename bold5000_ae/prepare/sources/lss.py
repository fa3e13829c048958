"""Least-squares-separate (LSS) single-trial betas of one cleaned run (Mumford et al., 2012).

Why: in BOLD5000 a trial starts every 10 s and the haemodynamic response lasts longer, so the
volumes 4-8 s after an onset carry the tails of the neighbouring trials. LSS fits, for each trial,
one GLM with that trial's own regressor, one regressor for all the other trials, and the same
nuisance regressors the cleaning removed (confounds, linear trend, cosine drift); the trial's
coefficient is its beta. The designs come from nilearn's ``make_first_level_design_matrix`` and
the fits from nilearn's ``run_glm``.

The fits run on the run's masked, cleaned rows (T, V): the run is read, masked and cleaned once,
not once per trial. Cleaning regressed the nuisance columns out of the data; keeping them in the
design as well residualises the trial regressors against them, so by Frisch-Waugh-Lovell the
betas equal those of the full GLM on the uncleaned run (up to a Butterworth high-pass, which is a
filter, not a regression: the design then carries the cosine drift of the same cut-off).

The noise model is ordinary least squares, not AR(1): an AR(1) fit whitens with coefficients
estimated from each voxel's residuals, which makes the betas nonlinear in the data and would
break prepared(data) = prepared(twin) + prepared(noise), the identity the ceiling
(``bold5000_ae/evaluation/ceiling.py``) rests on. With OLS every beta is a fixed linear map of the
run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

TRIAL, OTHERS = "lss_trial", "lss_other_trials"


def nuisance_columns(n_frames: int, confounds: pd.DataFrame | None,
                     detrend: bool) -> pd.DataFrame | None:
    """The confounds, plus a centred linear trend when the cleaning detrended the run."""
    columns = [] if confounds is None else [confounds.reset_index(drop=True)]
    if detrend:
        trend = np.arange(n_frames, dtype=float)
        columns.append(pd.DataFrame({"linear_trend": trend - trend.mean()}))
    return pd.concat(columns, axis=1) if columns else None


def trial_designs(onsets: np.ndarray, durations: np.ndarray, n_frames: int, tr: float,
                  nuisance: pd.DataFrame | None, high_pass: float | None,
                  hrf_model: str = "glover") -> Iterator[tuple[np.ndarray, int]]:
    """For each trial, (design (T, p), column of the trial's own regressor).

    Frame times start at 0 s, as ``sample_frames`` counts volumes, so a beta and a sampled
    volume refer to the same clock. ``high_pass`` adds nilearn's cosine drift at that cut-off.
    """
    frame_times = np.arange(n_frames) * tr
    kinds = np.full(len(onsets), OTHERS, dtype=object)
    extra = {} if nuisance is None else dict(add_regs=nuisance.to_numpy(float),
                                            add_reg_names=[str(c) for c in nuisance.columns])
    for i in range(len(onsets)):
        kinds[:] = OTHERS
        kinds[i] = TRIAL
        events = pd.DataFrame({"onset": onsets, "duration": durations, "trial_type": kinds})
        drift = dict(drift_model="cosine", high_pass=high_pass) if high_pass else dict(
            drift_model=None)
        design = make_first_level_design_matrix(frame_times, events, hrf_model=hrf_model,
                                                **drift, **extra)
        yield design.to_numpy(float), design.columns.get_loc(TRIAL)


def lss_betas(cleaned: np.ndarray, onsets: np.ndarray, durations: np.ndarray, tr: float,
              nuisance: pd.DataFrame | None, high_pass: float | None,
              hrf_model: str = "glover") -> np.ndarray:
    """(trials, V) float32 LSS betas of the cleaned rows ``cleaned`` (T, V), trials in the
    order of ``onsets``."""
    data = np.asarray(cleaned, dtype=np.float64)
    betas = np.empty((len(onsets), data.shape[1]), np.float32)
    for i, (design, column) in enumerate(trial_designs(onsets, durations, len(data), tr,
                                                        nuisance, high_pass, hrf_model)):
        labels, results = run_glm(data, design, noise_model="ols")
        betas[i] = results[labels[0]].theta[column]
    return betas


def cleaned_run_betas(cleaned: np.ndarray, onsets: np.ndarray, durations: np.ndarray, tr: float,
                      confounds: pd.DataFrame | None, clean_kwargs: dict[str, Any],
                      hrf_model: str = "glover") -> np.ndarray:
    """LSS betas of rows cleaned with ``clean_kwargs`` (``run_cleaning.clean_options``): the
    design carries what that cleaning removed (confounds, linear trend, cosine drift)."""
    nuisance = nuisance_columns(len(cleaned), confounds, clean_kwargs["detrend"])
    return lss_betas(cleaned, onsets, durations, tr, nuisance, clean_kwargs["high_pass"],
                     hrf_model)


def describe_lss(hrf_model: str) -> dict[str, Any]:
    """What the prepared file's ``source`` attribute records of the fit."""
    return {"hrf_model": hrf_model, "noise_model": "ols",
            "design": "trial, other trials, confounds, linear trend (detrend), cosine drift "
                      "(high_pass), constant"}
