"""Denoising a code with the Wiener filter whose noise covariance comes from repeated images.

Why: an autoencoder trained to reconstruct its noisy input keeps the directions of largest
variance, noise included (for a rank-k linear one, exactly PCA-k's); it cannot tell signal from
noise, because nothing in one volume says which is which. Repeated presentations do: two
presentations of one image at the same offset share the image's signal, so their difference is
noise (Σ_noise = Cov(x_a − x_b) / 2). With it, the Wiener filter W = Σ_x⁻¹ (Σ_x − Σ_noise)
keeps the part of a code that is signal. A few hundred repeated images cannot estimate a
covariance over a thousand voxels, but they can over a code of k units: the filter is applied
to a trained encoder's latent (or PCA-k's scores) and the result decoded. No label and no
noise-free twin is used, only the training rows and which image each showed.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf


def repeat_pairs(trials: pd.DataFrame) -> np.ndarray:
    """(n, 2) positions in ``trials`` of every pair of presentations of one image at one offset
    from onset (the same part of the haemodynamic response)."""
    groups = trials.groupby(["image_index", "offset_s"],  # NaN: a window mean or a beta
                            dropna=False).indices.values()
    pairs = [pair for group in groups for pair in combinations(sorted(group), 2)]
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def wiener_matrix(codes: np.ndarray, noise_cov: np.ndarray) -> np.ndarray:
    """W with ``(codes − mean) @ W`` the Wiener estimate of the signal part: Σ_x⁻¹ Σ_s, where
    Σ_s = Σ_x − Σ_noise is clipped to positive semi-definite (a sampled noise covariance can
    exceed the total in some directions; no signal is kept there)."""
    cov = np.cov(codes, rowvar=False)
    values, vectors = np.linalg.eigh(cov - noise_cov)
    signal_cov = (vectors * np.clip(values, 0, None)) @ vectors.T
    return np.linalg.solve(cov, signal_cov)


def repeat_noise_cov(codes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The noise covariance of ``codes`` from the differences of repeated presentations, /√2,
    Ledoit-Wolf shrunk (the differences are centred by construction)."""
    if len(pairs) < 2:
        raise ValueError(f"{len(pairs)} repeated presentation pairs: at least 2 are needed")
    diffs = (codes[pairs[:, 0]] - codes[pairs[:, 1]]) / np.sqrt(2)
    return LedoitWolf(assume_centered=True).fit(diffs).covariance_


def fit_repeat_wiener(codes: np.ndarray, trials: pd.DataFrame
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """The filter fitted on the training rows' codes (one row of ``trials`` each): a function
    from codes to denoised codes."""
    codes = np.asarray(codes, np.float64)
    mean = codes.mean(0, keepdims=True)
    weights = wiener_matrix(codes, repeat_noise_cov(codes, repeat_pairs(trials)))
    return lambda new: mean + (np.asarray(new, np.float64) - mean) @ weights


def denoised_reconstruction(encode: Callable[[np.ndarray], np.ndarray],
                            decode: Callable[[np.ndarray], np.ndarray], train: np.ndarray,
                            trials: pd.DataFrame, test: np.ndarray) -> np.ndarray | None:
    """``decode(filter(encode(test)))`` with the filter fitted on ``encode(train)`` (``trials``:
    the training rows' trials, in order); ``None`` when they hold under two repeat pairs."""
    if len(repeat_pairs(trials)) < 2:
        return None
    return decode(fit_repeat_wiener(encode(train), trials)(encode(test)))
