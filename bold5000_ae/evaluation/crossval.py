"""Grouped cross-validation of a living/non-living read-out, with a permutation p-value.

Why a loop of our own around scikit-learn parts (GroupKFold, LogisticRegression, roc_auc_score,
balanced_accuracy_score): the features themselves depend on the fold. Voxel normalisation (and
the raw-voxel baseline's projection) are fitted on the training groups only, so a fold's
features are computed once per fold and then reused by the fit on the true labels and by every
permuted fit. The permutation test is ``sklearn.model_selection.permutation_test_score``'s: the
labels are shuffled within each group (run or session), the whole CV is redone, and
p = (1 + #{permuted score ≥ score}) / (1 + n_permutations).

The raw-voxel baseline fits an L2 logistic regression on the standardised in-mask voxels. With
V ≫ N its solution lies in the span of the training rows (every gradient is a sum of them), so
fitting in the coordinates of that span (``RowSpace``) gives the same model, exactly, at N
instead of V dimensions: that is what makes 100 permutations of a 4,000-voxel baseline cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# train_rows → features of every sample (N, F), fitted without labels on train_rows only
FeatureMap = Callable[[np.ndarray], np.ndarray]


@dataclass
class CVResult:
    auc: float
    balanced_accuracy: float
    p_value: float
    fold_auc: list[float]
    permuted_auc: list[float] = field(default_factory=list)

    def as_metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}/auc": self.auc, f"{prefix}/balanced_accuracy": self.balanced_accuracy,
                f"{prefix}/p_value": self.p_value,
                f"{prefix}/auc_fold_std": float(np.std(self.fold_auc))}


def standardize(train_rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x scaled with the mean and std of its training rows (zero-variance columns left at 1)."""
    mean = x[train_rows].mean(0)
    std = x[train_rows].std(0)
    return (x - mean) / np.where(std > 1e-8, std, 1.0)


def row_space(train_rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Coordinates of every (standardised) row in the span of the centred training rows.

    Through the training rows' Gram matrix (n × n, n ≪ V): with Z_t = U S Vᵀ, the coordinates
    Z Vᵀᵀ = Z Z_tᵀ U S⁻¹, so no V × V or n × V decomposition is needed."""
    z = standardize(train_rows, x)
    gram = z[train_rows] @ z[train_rows].T
    eigval, u = np.linalg.eigh(gram)
    keep = eigval > eigval.max() * 1e-10
    return (z @ z[train_rows].T) @ (u[:, keep] / np.sqrt(eigval[keep]))


def raw_voxel_map(x: np.ndarray) -> FeatureMap:
    return lambda train_rows: row_space(train_rows, x)


def permute_within(y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = y.copy()
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        out[idx] = y[rng.permutation(idx)]
    return out


def _classifier(c: float, scale: bool) -> object:
    logistic = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    return make_pipeline(StandardScaler(), logistic) if scale else logistic


def _fold_scores(feats: list[np.ndarray], folds: list[tuple[np.ndarray, np.ndarray]],
                 y: np.ndarray, c: float, scale: bool) -> tuple[list[float], list[float]]:
    aucs, baccs = [], []
    for f, (train, test) in zip(feats, folds):
        clf = _classifier(c, scale).fit(f[train], y[train])
        score = clf.decision_function(f[test])
        aucs.append(roc_auc_score(y[test], score))
        baccs.append(balanced_accuracy_score(y[test], (score > 0).astype(int)))
    return aucs, baccs


def grouped_cv(feature_map: FeatureMap, y: np.ndarray, groups: np.ndarray,
               n_splits: int | None = None, n_permutations: int = 100, c: float = 1.0,
               seed: int = 0, scale: bool = True) -> CVResult:
    """AUC and balanced accuracy of a balanced-class-weight logistic regression on
    ``feature_map``'s features, GroupKFold over ``groups`` (one fold per group by default),
    with the within-group permutation p-value. ``scale``: standardise the features with the
    training rows first (off for ``raw_voxel_map``, whose rotation must stay a rotation)."""
    y, groups = np.asarray(y).astype(int), np.asarray(groups)
    n_groups = len(np.unique(groups))
    n_splits = min(n_splits or n_groups, n_groups)
    if n_splits < 2:
        raise ValueError(f"grouped CV needs at least 2 groups, got {n_groups}")
    folds = list(GroupKFold(n_splits=n_splits).split(y, y, groups))
    feats = [feature_map(train) for train, _ in folds]
    aucs, baccs = _fold_scores(feats, folds, y, c, scale)
    score = float(np.mean(aucs))
    rng = np.random.default_rng(seed)
    permuted = [float(np.mean(_fold_scores(feats, folds, permute_within(y, groups, rng), c,
                                         scale)[0])) for _ in range(n_permutations)]
    p = (1 + sum(s >= score for s in permuted)) / (1 + n_permutations)
    return CVResult(auc=score, balanced_accuracy=float(np.mean(baccs)), p_value=float(p),
                    fold_auc=[float(a) for a in aucs], permuted_auc=permuted)
