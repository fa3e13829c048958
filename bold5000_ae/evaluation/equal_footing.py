"""Representation baselines on equal footing with the trained encoder.

Why: an encoder is trained without labels on the autoencoder's training split, hundreds of rows
that the probe never scores. A baseline fitted only on a probe fold's training run sees a
fraction of that, and a PCA read at the encoder's k alone may sit at a poor k: then "the encoder
beats PCA" says only that PCA was handicapped. So here

- ``with_unlabeled``: every representation map (PCA-k, random projection, raw voxels, untrained
  and trained encoders) is fitted, without labels, on the encoder's training rows together with
  the fold's training rows; the scored rows never enter a fit;
- ``pca_inner_k_map``: PCA at the best small k, chosen per outer fold by an inner CV on that
  fold's labeled training rows only (``crossval.inner_search``), from ``K_GRID``. Ties go to
  the smaller k. PCA's first k components are the same at any larger fit, so one fit at the
  largest k serves every candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from bold5000_ae.evaluation.crossval import FeatureMap, inner_search, standardize
from bold5000_ae.evaluation.pca import fit_pca

K_GRID = (2, 4, 8, 16, 32, 64)


def with_unlabeled(make: Callable[[np.ndarray], FeatureMap], x: np.ndarray,
                   unlabeled: np.ndarray | None) -> FeatureMap:
    """``make``'s feature map, fitted on each fold's training rows plus the ``unlabeled`` rows
    (appended after ``x``; their features are computed and dropped). ``make`` receives the
    stacked matrix; with no unlabeled rows it receives ``x`` as it is."""
    if unlabeled is None or not len(unlabeled):
        return make(x)
    n = len(x)
    fmap = make(np.concatenate([x, np.asarray(unlabeled, x.dtype)]))
    extra = np.arange(n, n + len(unlabeled))
    return lambda train_rows: fmap(np.concatenate([np.asarray(train_rows), extra]))[:n]


def pca_inner_k_map(x: np.ndarray, y: np.ndarray, groups: np.ndarray, units: np.ndarray,
                    cs: Sequence[float], ks: Sequence[int] = K_GRID,
                    chosen: list[int] | None = None) -> FeatureMap:
    """PCA scores of the standardised voxels at the k an inner CV picks per fold.

    ``x`` may hold more rows than ``y``: rows from ``len(y)`` on are unlabeled (the encoder's
    training rows, see ``with_unlabeled``): they join the PCA fit, never the choice of k. Only
    the labeled training rows a fold passes choose k; each chosen k is appended to ``chosen``."""
    y, groups, units = np.asarray(y).astype(int), np.asarray(groups), np.asarray(units)

    def features(train_rows: np.ndarray) -> np.ndarray:
        train_rows = np.asarray(train_rows)
        labeled = train_rows[train_rows < len(y)]
        z = standardize(train_rows, x)
        scores = fit_pca(z[train_rows], max(ks)).transform(z)
        best_k, best = int(min(ks)), -np.inf
        for k in sorted(int(k) for k in ks):
            if k > scores.shape[1]:
                break
            auc = inner_search(scores[labeled, :k], y[labeled], groups[labeled],
                               units[labeled], cs, scale=True)[1]
            if auc > best + 1e-9:
                best_k, best = k, auc
        if chosen is not None:
            chosen.append(best_k)
        return scores[:, :best_k]

    return features
