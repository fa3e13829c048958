"""Grouped cross-validation of a living/non-living read-out: nested C, trial-level statistics.

Why a loop of our own around scikit-learn parts (GroupKFold, GridSearchCV, LogisticRegression,
roc_auc_score): the features themselves depend on the fold. Voxel normalisation (and a
baseline's projection: PCA, row space) are fitted on the training groups only, so a fold's
features are computed once per fold and reused by the fit on the true labels and by every
permuted fit.

- **Nested C.** With a grid of C values, each outer fold picks C by an inner GroupKFold over its
  own training groups (``GridSearchCV``, scored by AUC); the outer test groups never see the
  choice. With a single training group the inner folds are its trials instead (mildly
  optimistic for the choice of C, never for the score). Permuted fits reuse each fold's chosen C
  (refitting the inner grid 100 times per fold would multiply the cost by ~30); that makes the
  null slightly narrower, so the p-value is a little liberal, which the docs say.
- **Permutation at trial level** (``stats.permute_units``): labels move across trials within
  groups (runs); a trial's volumes move together. p = (1 + #{null ≥ score}) / (1 + n).
- **Bootstrap CI over trials** of the mean fold AUC, from the out-of-fold scores.

The raw-voxel baseline fits an L2 logistic regression on the standardised in-mask voxels. With
V ≫ N its solution lies in the span of the training rows (every gradient is a sum of them), so
fitting in the coordinates of that span (``row_space``) gives the same model, exactly, at N
instead of V dimensions: that is what makes permutations of a 4,000-voxel baseline cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bold5000_ae.evaluation.stats import bootstrap_ci, permutation_p, permute_units

# train_rows → features of every sample (N, F), fitted without labels on train_rows only
FeatureMap = Callable[[np.ndarray], np.ndarray]


@dataclass
class CVResult:
    auc: float
    balanced_accuracy: float
    p_value: float
    fold_auc: list[float]
    permuted_auc: list[float] = field(default_factory=list)
    ci: tuple[float, float] = (float("nan"), float("nan"))
    chosen_c: list[float] = field(default_factory=list)
    # out-of-fold decision scores and each row's fold (-1: never tested), for paired bootstraps
    oof: np.ndarray = field(default_factory=lambda: np.zeros(0))
    fold_of: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def as_metrics(self, prefix: str) -> dict[str, float]:
        out = {f"{prefix}/auc": self.auc, f"{prefix}/balanced_accuracy": self.balanced_accuracy,
               f"{prefix}/p_value": self.p_value, f"{prefix}/auc_ci_low": self.ci[0],
               f"{prefix}/auc_ci_high": self.ci[1],
               f"{prefix}/auc_fold_std": float(np.std(self.fold_auc))}
        if self.chosen_c:
            out[f"{prefix}/c_median"] = float(np.median(self.chosen_c))
        return out


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


def _classifier(c: float, scale: bool) -> object:
    logistic = LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
    return make_pipeline(StandardScaler(), logistic) if scale else logistic


def inner_search(x: np.ndarray, y: np.ndarray, groups: np.ndarray, units: np.ndarray,
                 cs: Sequence[float], scale: bool, inner_splits: int = 5) -> tuple[float, float]:
    """(best C, its mean inner AUC) by an inner grouped CV on these (training) rows only: folds
    of whole ``groups``, or of whole ``units`` (trials) when there is a single group; stratified
    by class (``StratifiedGroupKFold``) so every inner fold can be scored by AUC."""
    inner = groups if len(np.unique(groups)) >= 2 else units
    n = min(inner_splits, len(np.unique(inner)))
    name = "logisticregression__C" if scale else "C"
    search = GridSearchCV(_classifier(1.0, scale), {name: list(cs)}, scoring="roc_auc",
                          cv=StratifiedGroupKFold(n_splits=n), error_score=0.5)
    search.fit(x, y, groups=inner)
    return float(search.best_params_[name]), float(search.best_score_)


def choose_c(x: np.ndarray, y: np.ndarray, groups: np.ndarray, units: np.ndarray,
             cs: Sequence[float], scale: bool, inner_splits: int = 5) -> float:
    """C by ``inner_search`` on these (training) rows only (one C: no search)."""
    if len(cs) == 1:
        return float(cs[0])
    return inner_search(x, y, groups, units, cs, scale, inner_splits)[0]


def fold_mean_auc(y: np.ndarray, oof: np.ndarray, fold_of: np.ndarray,
                  rows: np.ndarray | None = None) -> float:
    """Mean over folds of the AUC of the out-of-fold scores (on ``rows``, with repeats)."""
    rows = np.flatnonzero(fold_of >= 0) if rows is None else rows[fold_of[rows] >= 0]
    yr, sr, fr = y[rows], oof[rows], fold_of[rows]
    aucs = [roc_auc_score(yr[fr == f], sr[fr == f]) for f in np.unique(fr)
            if len(np.unique(yr[fr == f])) == 2]
    return float(np.mean(aucs)) if aucs else float("nan")


def _fit_scores(feats: list[np.ndarray], folds: list[tuple[np.ndarray, np.ndarray]],
                y: np.ndarray, cs: list[float], scale: bool, n: int) -> tuple[np.ndarray, list]:
    oof = np.zeros(n)
    baccs = []
    for f, (train, test), c in zip(feats, folds, cs):
        score = _classifier(c, scale).fit(f[train], y[train]).decision_function(f[test])
        oof[test] = score
        baccs.append(balanced_accuracy_score(y[test], (score > 0).astype(int)))
    return oof, baccs


def grouped_cv(feature_map: FeatureMap, y: np.ndarray, groups: np.ndarray,
               n_splits: int | None = None, n_permutations: int = 100,
               c: float | Sequence[float] = 1.0, seed: int = 0, scale: bool = True,
               units: np.ndarray | None = None, n_boot: int = 0) -> CVResult:
    """AUC and balanced accuracy of a balanced-class-weight logistic regression on
    ``feature_map``'s features, GroupKFold over ``groups`` (one fold per group by default).

    ``c``: one value, or a grid chosen per outer fold by inner grouped CV. ``units``: the
    statistical unit of each row (its trial; default: the row itself) for the permutation
    (within groups) and the bootstrap CI (``n_boot`` resamples). ``scale``: standardise the
    features with the training rows first (off for ``raw_voxel_map``)."""
    y, groups = np.asarray(y).astype(int), np.asarray(groups)
    units = np.arange(len(y)).astype(str) if units is None else np.asarray(units)
    n_groups = len(np.unique(groups))
    n_splits = min(n_splits or n_groups, n_groups)
    if n_splits < 2:
        raise ValueError(f"grouped CV needs at least 2 groups, got {n_groups}")
    grid = [float(c)] if np.isscalar(c) else [float(v) for v in c]
    folds = list(GroupKFold(n_splits=n_splits).split(y, y, groups))
    feats = [feature_map(train) for train, _ in folds]
    chosen = [choose_c(f[train], y[train], groups[train], units[train], grid, scale)
              for f, (train, _) in zip(feats, folds)]
    fold_of = np.full(len(y), -1)
    for i, (_, test) in enumerate(folds):
        fold_of[test] = i
    oof, baccs = _fit_scores(feats, folds, y, chosen, scale, len(y))
    score = fold_mean_auc(y, oof, fold_of)
    rng = np.random.default_rng(seed)
    permuted = []
    for _ in range(n_permutations):
        yp = permute_units(y, units, groups, rng)
        permuted.append(fold_mean_auc(yp, _fit_scores(feats, folds, yp, chosen, scale,
                                                      len(y))[0], fold_of))
    ci = bootstrap_ci(lambda rows: fold_mean_auc(y, oof, fold_of, rows), units, n_boot, seed)
    return CVResult(auc=score, balanced_accuracy=float(np.mean(baccs)),
                    p_value=permutation_p(score, permuted) if permuted else float("nan"),
                    fold_auc=[fold_mean_auc(y, oof, np.where(fold_of == i, 0, -1))
                              for i in range(len(folds))],
                    permuted_auc=permuted, ci=ci, chosen_c=chosen, oof=oof, fold_of=fold_of)


def paired_difference_ci(y: np.ndarray, a: CVResult, others: Sequence[CVResult],
                         units: np.ndarray, n_boot: int = 200,
                         seed: int = 0) -> tuple[float, float, float]:
    """AUC(a) − mean AUC(others) on the same folds, with its bootstrap CI over trials (the
    same resampled trials for both sides, so shared difficulty cancels)."""
    def diff(rows: np.ndarray | None) -> float:
        return fold_mean_auc(y, a.oof, a.fold_of, rows) - float(np.mean(
            [fold_mean_auc(y, o.oof, o.fold_of, rows) for o in others]))

    lo, hi = bootstrap_ci(diff, units, n_boot, seed)
    return diff(None), lo, hi
