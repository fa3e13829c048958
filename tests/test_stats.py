"""Trial-level statistics: permutations move a trial's volumes together and stay within runs;
the trial-level null is wider than a volume-level one when a trial's volumes are dependent;
nested C never looks at the outer test fold's labels."""

from __future__ import annotations

import numpy as np
import pytest

from bold5000_ae.evaluation.crossval import grouped_cv, paired_difference_ci
from bold5000_ae.evaluation.stats import bootstrap_units, permutation_p, permute_units


def test_permute_units_moves_whole_trials_within_runs() -> None:
    units = np.array(["a", "a", "a", "b", "b", "b", "c", "c", "c", "d", "d", "d"])
    runs = np.array([0] * 6 + [1] * 6)
    y = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        p = permute_units(y, units, runs, rng)
        for u in "abcd":  # a trial's volumes keep one label
            assert len(set(p[units == u])) == 1
        # run 0 holds one living and one non-living trial, run 1 two living: counts stay
        assert p[runs == 0].sum() == 3 and p[runs == 1].sum() == 6
        seen.add(tuple(p[:6]))
    assert len(seen) == 2  # both orders of run 0's two trials occur


def test_bootstrap_resamples_whole_units() -> None:
    units = np.repeat(np.arange(5), 3)
    for rows in bootstrap_units(units, 20, seed=1):
        assert len(rows) == 15
        counts = np.bincount(units[rows], minlength=5)
        assert np.all(counts % 3 == 0)  # each drawn unit brings its 3 volumes


def test_permutation_p_counts_ties_as_exceedances() -> None:
    assert permutation_p(0.7, [0.5, 0.7, 0.8, 0.6]) == pytest.approx(3 / 5)


def _dependent_rows(seed: int = 0):
    """4 runs × 15 trials × 3 volumes; a trial's volumes are nearly copies (one shared draw
    plus a little noise), and labels carry no signal."""
    rng = np.random.default_rng(seed)
    n_trials, vols = 60, 3
    trial_feat = rng.normal(size=(n_trials, 4))
    x = np.repeat(trial_feat, vols, axis=0) + 0.05 * rng.normal(size=(n_trials * vols, 4))
    trial_label = np.tile([0, 1], n_trials // 2)
    rng.shuffle(trial_label)
    units = np.repeat(np.arange(n_trials), vols).astype(str)
    runs = np.repeat(np.arange(4), n_trials * vols // 4)
    return x, np.repeat(trial_label, vols), runs, units


def test_trial_level_null_is_wider_than_volume_level_on_dependent_rows() -> None:
    x, y, runs, units = _dependent_rows()
    fmap = lambda train: x  # noqa: E731 - fixed features
    trial = grouped_cv(fmap, y, runs, n_permutations=40, units=units, seed=1)
    volume = grouped_cv(fmap, y, runs, n_permutations=40, units=None, seed=1)
    assert trial.auc == volume.auc  # the same fit on the true labels
    assert np.std(trial.permuted_auc) > 1.25 * np.std(volume.permuted_auc), (
        np.std(trial.permuted_auc), np.std(volume.permuted_auc))


def test_nested_c_and_trial_bootstrap_ci() -> None:
    rng = np.random.default_rng(2)
    y = np.tile([0, 1], 120)
    x = rng.normal(size=(240, 6)) + np.outer(y, [1.0, 0, 0, 0, 0, 0])
    runs = np.repeat(np.arange(4), 60)
    units = np.repeat(np.arange(80), 3).astype(str)
    res = grouped_cv(lambda t: x, y, runs, n_permutations=0, c=[1e-4, 1.0], units=units,
                     n_boot=50)
    assert len(res.chosen_c) == 4 and set(res.chosen_c) <= {1e-4, 1.0}
    assert res.ci[0] < res.auc < res.ci[1]
    assert 0.7 < res.auc < 0.9  # d' = 1: AUC = Φ(1/√2) ≈ 0.76
    diff, lo, hi = paired_difference_ci(y, res, [res], units, n_boot=50)
    assert diff == 0 and lo == 0 and hi == 0  # a read-out against itself differs by nothing
