"""Ceilings measured on what a model sees: the noise-free twin after the same preparation.

The default (brain) generator writes a noise-free twin of every run (same events, same confounds);
the Makefile prepares it with the same ``bold5000-ae-prepare`` command into ``<name>_noiseless.h5``
beside the prepared file. Preparation is linear there (detrend, high-pass, confound regression;
``source.reader.standardize=false``: per-run z-scoring is refused here), so prepared(observed) =
prepared(twin) + prepared(noise) row by row, and the twin normalised with the training statistics
is the noise-free part of each normalised row a model is scored on. Per split (and per test run):

- ``r2``: 1 - MSE(twin, observed) / MSE(training mean, observed), the R² of the noise-free
  signal as a reconstruction of the observed rows; training mean = 0 after normalisation.
- ``ideal_image_r2``: the same for the best prediction from the image alone: the twin averaged
  over the *other* presentations of that image at that volume offset (subject-wise; the scored
  trial's own row never enters its prediction). Rows whose image has no other presentation are
  left out; with none left the figure is NaN (the prepared file records no image factors to
  predict them from).
- ``oracle_auc``: living/non-living AUC of the read-out that knows the twin, when the caller
  passes ``oracle`` (``bold5000_ae.evaluation.oracle.oracle_scores``: twin class means, shrunk
  full within-class covariance, fitted on the training rows, applied to the test rows). Passed
  in, not imported: this layer may not import evaluation, and the transfer read-outs use the
  same function, so the two never drift apart.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from bold5000_ae.data.hdf5_format import open_prepared, read_attrs, read_trials

KEYS = ["subject", "session", "run", "trial", "offset_s"]


def twin_path(path: str | Path) -> Path:
    """Where the prepared noise-free twin of ``path`` lives."""
    path = Path(path)
    return path.with_name(f"{path.stem}_noiseless{path.suffix}")


def _normalised(h5: Any, rows: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    order = np.argsort(rows)
    out = np.empty((len(rows), h5["bold"].shape[1]), np.float64)
    out[order] = h5["bold"][np.sort(rows)]
    return (out - mean) / std


def _r2(pred: np.ndarray, obs: np.ndarray) -> float:
    return float(1.0 - ((pred - obs) ** 2).sum() / max((obs ** 2).sum(), 1e-12))


def matching_twin(datamodule: Any, twin: str | Path | None = None) -> Path | None:
    """The prepared twin of a set-up BoldDataModule's file when it holds the same rows and was
    prepared linearly; ``None`` (with a warning saying why, when a twin exists) otherwise."""
    paths = datamodule.files.paths if getattr(datamodule, "files", None) else [datamodule.path]
    if twin is None and len(paths) != 1:  # several prepared files: no single twin to pair
        return None
    twin = Path(twin) if twin else twin_path(paths[0])
    if not twin.is_file() or not datamodule.datasets:
        return None
    with open_prepared(datamodule.path) as obs_h5, open_prepared(twin) as twin_h5:
        twin_trials = read_trials(twin_h5)
        trials = datamodule.trials
        attrs = [read_attrs(h5) for h5 in (obs_h5, twin_h5)]
    if any(a.get("source", {}).get("standardize") for a in attrs):
        warnings.warn(f"{datamodule.path} or its twin was z-scored per run (nonlinear): "
                      "no ceiling; prepare with source.reader.standardize=false",
                      stacklevel=1)  # one location: shown once per run, whoever asks
        return None
    truths = [a.get("ground_truth") for a in attrs]
    if len(twin_trials) != len(trials) or truths[0] != truths[1] or not np.allclose(
            twin_trials[KEYS].to_numpy(float), trials[KEYS].to_numpy(float), equal_nan=True):
        warnings.warn(f"{twin} does not hold the rows of {datamodule.path}; no ceiling",
                      stacklevel=1)  # one location: shown once per run, whoever asks
        return None
    return twin


def normalised_twin(datamodule: Any, split: str) -> np.ndarray | None:
    """The noise-free part of ``split``'s rows as the model sees them (normalised with the
    training statistics), or ``None`` when the file has no matching twin."""
    twin = matching_twin(datamodule)
    if twin is None or split not in datamodule.datasets:
        return None
    rows = np.asarray(datamodule.datasets[split].rows)
    with open_prepared(twin) as twin_h5:
        return _normalised(twin_h5, rows, datamodule.mean.astype(np.float64),
                           datamodule.std.astype(np.float64))


OracleScores = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def ceiling_metrics(datamodule: Any, twin: str | Path | None = None,
                    oracle: OracleScores | None = None) -> dict[str, float]:
    """``ceiling/<split>/...`` figures for a set-up BoldDataModule; {} when no twin exists.
    ``oracle``: (train observed, train twin, train labels, scored rows) → scores; with it, the
    test split's ``oracle_auc``."""
    twin = matching_twin(datamodule, twin)
    if twin is None:
        return {}
    mean, std = datamodule.mean.astype(np.float64), datamodule.std.astype(np.float64)
    trials = datamodule.trials
    with open_prepared(datamodule.path) as obs_h5, open_prepared(twin) as twin_h5:
        clean_all = _normalised(twin_h5, np.arange(len(trials)), mean, std)
        out: dict[str, float] = {}
        ideal = _ideal_image_prediction(clean_all, trials)
        for name, ds in datamodule.datasets.items():
            rows = np.asarray(ds.rows)
            if not len(rows):
                continue
            obs = _normalised(obs_h5, rows, mean, std)
            out[f"ceiling/{name}/r2"] = _r2(clean_all[rows], obs)
            defined = ~np.isnan(ideal[rows, 0])
            out[f"ceiling/{name}/ideal_image_r2"] = (
                _r2(ideal[rows][defined], obs[defined]) if defined.any() else float("nan"))
            out[f"ceiling/{name}/ideal_image_rows"] = float(defined.sum())
            if name == "test":
                out.update(_per_run(clean_all[rows], obs, trials.iloc[rows]))
                train = np.asarray(datamodule.datasets["train"].rows)
                auc = None if oracle is None else _oracle_auc(
                    oracle, clean_all, obs_h5, train, rows, trials, mean, std, obs)
                if auc is not None:
                    out["ceiling/test/oracle_auc"] = auc
    return out


def _ideal_image_prediction(clean: np.ndarray, trials: pd.DataFrame) -> np.ndarray:
    """Each row predicted by the twin's mean over the other trials showing its image at its
    offset (leave its own trial out); NaN where the image has no other presentation."""
    # group codes, NaN offsets (a window mean, an LSS beta) forming a group like any other
    codes = trials.groupby(["subject", "image_index", "offset_s"], dropna=False,
                           sort=False).ngroup().to_numpy()
    # a row's own trial at its offset (several rows if averaged)
    own = trials.groupby(["subject", "session", "run", "trial", "offset_s"], dropna=False,
                         sort=False).ngroup().to_numpy()
    sums = np.zeros((codes.max() + 1, clean.shape[1]))
    np.add.at(sums, codes, clean)
    own_sums = np.zeros((own.max() + 1, clean.shape[1]))
    np.add.at(own_sums, own, clean)
    counts = np.bincount(codes)[codes] - np.bincount(own)[own]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0,
                        (sums[codes] - own_sums[own]) / counts[:, None], np.nan)


def _per_run(clean: np.ndarray, obs: np.ndarray, trials: pd.DataFrame) -> dict[str, float]:
    out = {}
    runs = trials[["subject", "session", "run"]].astype(int).astype(str).agg("-".join, axis=1)
    for run in dict.fromkeys(runs):
        sel = (runs == run).to_numpy()
        out[f"ceiling/test/run_{run}/r2"] = _r2(clean[sel], obs[sel])
    return out


def _oracle_auc(oracle: OracleScores, clean: np.ndarray, obs_h5: Any, train: np.ndarray,
                test: np.ndarray, trials: pd.DataFrame, mean: np.ndarray, std: np.ndarray,
                test_obs: np.ndarray) -> float | None:
    labels = trials["label"].to_numpy()
    tr = train[labels[train] >= 0]
    te = labels[test] >= 0
    if len(np.unique(labels[tr])) < 2 or len(np.unique(labels[test][te])) < 2:
        return None
    score = oracle(_normalised(obs_h5, tr, mean, std), clean[tr], labels[tr], test_obs[te])
    return float(roc_auc_score(labels[test][te], score))
