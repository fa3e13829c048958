"""Per-trial reconstruction errors of a trained run and of PCA-k, against the input and the
noise-free twin, and bootstrap CIs over trials of the difference (the statistical unit is the
trial: a trial's volumes are resampled together)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bold5000_ae.evaluation.baselines import model_codec, normalised_split
from bold5000_ae.evaluation.ceiling import normalised_twin
from bold5000_ae.evaluation.pca import fit_pca
from bold5000_ae.evaluation.repeat_wiener import denoised_reconstruction


def trial_codes(datamodule: Any, split: str) -> np.ndarray:
    """One integer per row of ``split``: the trial it belongs to."""
    trials = datamodule.trials.iloc[np.asarray(datamodule.datasets[split].rows)]
    key = trials[["subject", "session", "run", "trial"]].astype(str).agg("-".join, axis=1)
    return pd.factorize(key)[0]


def per_trial(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Row sums of squares, summed per trial."""
    return np.bincount(codes, weights=(values ** 2).sum(axis=1))


def split_errors(datamodule: Any, model: Any | None, k: int, split: str = "test",
                 repeat_wiener: bool = False) -> dict[str, np.ndarray]:
    """Per-trial sums for R² against the input (``sse_input``, ``ss_input``) and against the
    twin (``sse_signal``, ``ss_signal``) of ``model`` (PCA-k fitted on the training rows when
    ``model`` is None). The training mean is 0 after normalisation: it is the reference.
    ``repeat_wiener``: the code (latent, or PCA-k's scores) is denoised with the Wiener filter
    fitted on the training rows' repeated images before it is decoded."""
    test = normalised_split(datamodule, split).astype(np.float64)
    twin = normalised_twin(datamodule, split)
    train = normalised_split(datamodule, "train") if model is None or repeat_wiener else None
    if model is None:
        pca = fit_pca(train, k)
        encode, decode = pca.transform, pca.inverse_transform
    else:
        encode, decode = model_codec(model)
    if repeat_wiener:
        trials = datamodule.trials.iloc[np.asarray(datamodule.datasets["train"].rows)]
        recon = denoised_reconstruction(encode, decode, train, trials.reset_index(drop=True),
                                        test)
        if recon is None:
            raise SystemExit(f"error: {datamodule.path}: its training rows repeat no image")
    else:
        recon = decode(encode(test))
    return trial_errors(recon, test, twin, trial_codes(datamodule, split))


def trial_errors(recon: np.ndarray, test: np.ndarray, twin: np.ndarray | None,
                 codes: np.ndarray) -> dict[str, np.ndarray]:
    """Per-trial sums of squares of ``recon`` against the input rows and the twin's rows."""
    out = {"sse_input": per_trial(recon - test, codes), "ss_input": per_trial(test, codes)}
    if twin is not None:
        out |= {"sse_signal": per_trial(recon - twin, codes), "ss_signal": per_trial(twin, codes)}
    return out


def r2(errors: dict[str, np.ndarray], kind: str, idx: np.ndarray | None = None) -> float:
    sse, ss = errors[f"sse_{kind}"], errors[f"ss_{kind}"]
    if idx is not None:
        sse, ss = sse[idx], ss[idx]
    return 1.0 - float(sse.sum()) / max(float(ss.sum()), 1e-12)


def seed_mean_difference(runs: list[dict[str, np.ndarray]], reference: dict[str, np.ndarray],
                         kind: str, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mean over seeds of R²(run) − R²(reference), with a 95% bootstrap CI over trials (the
    same resampled trials for every seed and the reference)."""
    n = len(reference[f"ss_{kind}"])
    diff = float(np.mean([r2(run, kind) - r2(reference, kind) for run in runs]))
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        boots.append(np.mean([r2(run, kind, idx) - r2(reference, kind, idx) for run in runs]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": diff, "lo": float(lo), "hi": float(hi)}


def save_errors(path: Path, errors: dict[str, np.ndarray]) -> None:
    np.savez(path, **errors)


def load_errors(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
