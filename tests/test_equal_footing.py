"""Baselines on equal footing: known answers for the inner-CV choice of PCA's k, the fit on the
encoder's unlabeled rows, the shrinkage oracle, centred identification and the image-only
reference that leaves the scored trial out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from bold5000_ae.evaluation.baselines import oracle_map, pca_map
from bold5000_ae.evaluation.ceiling import _ideal_image_prediction
from bold5000_ae.evaluation.crossval import grouped_cv, standardize
from bold5000_ae.evaluation.equal_footing import pca_inner_k_map, with_unlabeled
from bold5000_ae.evaluation.identification import (
    identification_metrics,
    leave_trial_out_mean,
)
from bold5000_ae.evaluation.metrics import ReconstructionMetrics
from bold5000_ae.evaluation.oracle import diagonal_weights, oracle_scores
from bold5000_ae.evaluation.pca import fit_pca

CS = [1e-2, 1e-1, 1.0]


def _ranked_factors(n: int, label_dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows of 60 voxels from 40 factors of decreasing variance 100 / (i + 1) (so PCA's
    components are the factors, in order), labels the sign of factor ``label_dim``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 40)) * np.sqrt(100 / (np.arange(40) + 1))
    basis = np.linalg.qr(rng.standard_normal((60, 40)))[0]
    x = z @ basis.T + 0.1 * rng.standard_normal((n, 60))
    return x, (z[:, label_dim] > 0).astype(int)


def test_inner_cv_picks_the_k_that_holds_the_signal_from_the_training_rows_only() -> None:
    train = np.arange(120)
    units = np.arange(160).astype(str)
    groups = np.zeros(160)
    for label_dim, ok in ((0, lambda k: k == 2), (12, lambda k: k >= 16)):
        x, y = _ranked_factors(160, label_dim)
        chosen: list[int] = []
        feats = pca_inner_k_map(x, y, groups, units, CS, chosen=chosen)(train)
        assert ok(chosen[0]), (label_dim, chosen)  # ties go to the smaller k
        assert feats.shape == (160, chosen[0])
        # the scored rows' labels and voxels can be anything: the same k, the same features
        x2, y2 = x.copy(), y.copy()
        x2[120:] = np.random.default_rng(1).standard_normal((40, 60)) * 50
        y2[120:] = 1 - y2[120:]
        again: list[int] = []
        feats2 = pca_inner_k_map(x2, y2, groups, units, CS, chosen=again)(train)
        assert again == chosen
        np.testing.assert_allclose(feats2[train], feats[train])
    # ... while the training rows' labels do choose (so the checks above can fail)
    x, y = _ranked_factors(160, 0)
    y_weak = _ranked_factors(160, 12)[1]
    moved: list[int] = []
    pca_inner_k_map(x, np.where(np.isin(np.arange(160), train), y_weak, y), groups, units,
                    CS, chosen=moved)(train)
    assert moved[0] >= 16


def test_baselines_are_fitted_on_the_encoder_rows_and_never_on_the_scored_rows() -> None:
    rng = np.random.default_rng(0)
    probe, unlabeled = rng.standard_normal((30, 20)), rng.standard_normal((200, 20)) * 3
    train = np.arange(20)
    feats = with_unlabeled(lambda x: pca_map(x, 4), probe, unlabeled)(train)
    stacked = np.concatenate([probe[train], unlabeled])
    z = standardize(np.arange(len(stacked)), np.concatenate([stacked, probe[20:]]))
    pca = fit_pca(z[:len(stacked)], 4)
    expected = pca.transform(np.concatenate([z[:20], z[len(stacked):]]))
    np.testing.assert_allclose(np.abs(feats), np.abs(expected), atol=1e-8)  # sign of a PC
    # without the unlabeled rows the components differ (so the check above can fail)
    alone = pca_map(probe, 4)(train)
    assert not np.allclose(np.abs(alone), np.abs(feats), atol=1e-3)
    moved = probe.copy()
    moved[20:] += 100.0  # the scored rows
    again = with_unlabeled(lambda x: pca_map(x, 4), moved, unlabeled)(train)
    np.testing.assert_allclose(again[train], feats[train])


def _gaussian_classes(n: int, rng: np.random.Generator, delta: np.ndarray,
                      chol: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.tile([0, 1], n // 2)
    clean = np.outer(y, delta)
    return y, clean, clean + rng.standard_normal((n, len(delta))) @ chol.T


def test_the_shrinkage_oracle_reaches_the_bayes_optimal_auc_under_correlated_noise() -> None:
    # smooth noise (AR(1), rho 0.9) over 40 voxels; the class difference a constant plus an
    # alternating pattern. Bayes-optimal linear AUC = Phi(sqrt(d' Sigma^-1 d) / sqrt 2) = 0.919.
    # Measured over 5 seeds (600 training rows, 20,000 scored): 0.912 to 0.917; the diagonal
    # discriminant 0.645 to 0.650 (it weights the constant part, buried in the smooth noise)
    i = np.arange(40)
    cov = 0.9 ** np.abs(i[:, None] - i[None, :])
    delta = 0.07 * (-1.0) ** i + 0.3
    chol = np.linalg.cholesky(cov)
    bayes = norm.cdf(np.sqrt(delta @ np.linalg.solve(cov, delta)) / np.sqrt(2))
    rng = np.random.default_rng(0)
    y, clean, obs = _gaussian_classes(600, rng, delta, chol)
    y_test, _, obs_test = _gaussian_classes(20_000, rng, delta, chol)
    shrunk = roc_auc_score(y_test, oracle_scores(obs, clean, y, obs_test))
    diagonal = roc_auc_score(y_test, obs_test @ diagonal_weights(obs, clean, y))
    assert bayes == pytest.approx(0.919, abs=1e-3)
    assert shrunk == pytest.approx(bayes, abs=0.015)
    assert shrunk > diagonal + 0.2
    # on grouped-CV folds (oracle_map: the same function) it stays within its CI of the bound
    groups = np.repeat(np.arange(4), 150)
    cv = grouped_cv(oracle_map(obs, clean, y), y, groups, n_permutations=0, c=1.0, n_boot=50)
    assert cv.ci[0] - 0.02 <= bayes and cv.auc == pytest.approx(bayes, abs=0.04)


def test_identification_of_centred_latents_ignores_a_shared_training_mean() -> None:
    rng = np.random.default_rng(0)
    true = torch.tensor(rng.standard_normal((60, 8)), dtype=torch.float32)
    # a prediction shrunk toward the mean, as a regression's is: raw cosines of latents that
    # share a large mean then rank targets by their distance from the mean, not by the match
    pred = 0.2 * true + torch.tensor(rng.standard_normal((60, 8)), dtype=torch.float32) * 0.3
    images = torch.arange(60)
    shared = torch.tensor(rng.standard_normal(8), dtype=torch.float32) * 50
    plain = identification_metrics(pred, true, images, n_way=10)
    centred = identification_metrics(pred + shared, true + shared, images, n_way=10,
                                     center=shared)
    for key in ("identification_2way", "identification_10way"):
        assert centred[key].item() == pytest.approx(plain[key].item(), abs=1e-6)
    raw = identification_metrics(pred + shared, true + shared, images, n_way=10)
    assert plain["identification_2way"].item() > 0.7
    assert raw["identification_2way"].item() < plain["identification_2way"].item() - 0.1
    # reconstruction identification: centred on the reference (the training mean) too
    voxels = torch.tensor(rng.standard_normal((40, 30)), dtype=torch.float32)
    recon = voxels + torch.tensor(rng.standard_normal((40, 30)), dtype=torch.float32) * 2
    mean = torch.tensor(rng.standard_normal(30), dtype=torch.float32) * 30
    at_zero, shifted = ReconstructionMetrics(30), ReconstructionMetrics(30, reference=mean)
    at_zero.update(recon, voxels)
    shifted.update(recon + mean, voxels + mean)
    assert shifted.compute()["identification"].item() == pytest.approx(
        at_zero.compute()["identification"].item(), abs=1e-6)


def test_the_image_only_reference_never_uses_the_scored_trial() -> None:
    # image 0: trials 0, 1, 2 (two volumes each); image 1: trial 3 only
    images = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1])
    trials = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    x = torch.arange(16, dtype=torch.float32).reshape(8, 2)
    ref = leave_trial_out_mean(x, images, trials)
    np.testing.assert_allclose(ref[0], x[2:6].mean(0))  # trials 1 and 2, not its own
    assert torch.isnan(ref[6:]).all()  # a single presentation: undefined
    changed = x.clone()
    changed[0:2] += 100.0  # trial 0's own rows
    np.testing.assert_allclose(leave_trial_out_mean(changed, images, trials)[:2], ref[:2])
    assert not torch.allclose(leave_trial_out_mean(changed, images, trials)[2], ref[2])
    # the ceiling's ideal image-only prediction (the twin's rows), per volume offset
    table = pd.DataFrame({"subject": 1, "session": 1, "run": 1, "image_index": images.numpy(),
                          "trial": trials.numpy(), "offset_s": [4, 6] * 4})
    clean = np.random.default_rng(0).standard_normal((8, 5))
    ideal = _ideal_image_prediction(clean, table)
    np.testing.assert_allclose(ideal[0], clean[[2, 4]].mean(0))  # same offset, other trials
    assert np.isnan(ideal[6:]).all()
    moved = clean.copy()
    moved[0] += 100.0
    np.testing.assert_allclose(_ideal_image_prediction(moved, table)[0], ideal[0])
    assert not np.allclose(_ideal_image_prediction(moved, table)[2], ideal[2])


def test_the_ceiling_oracle_is_the_read_outs_oracle(tmp_path) -> None:
    from bold5000_ae.data.datamodule import BoldDataModule
    from bold5000_ae.evaluation.baselines import normalised_split
    from bold5000_ae.evaluation.ceiling import ceiling_metrics, normalised_twin
    from bold5000_ae.synthetic import BrainSpec
    from experiments.synthetic_brain.measure import build

    spec = BrainSpec(grid=(16, 18, 16), voxel_size_mm=(10.0, 10.0, 10.0), sessions=2,
                     runs_per_session=2, trials_per_run=8, volumes_per_run=50,
                     unique_images=24, image_size=16, seed=4)
    dm = BoldDataModule(build(tmp_path, spec))
    dm.setup()
    assert "ceiling/test/oracle_auc" not in ceiling_metrics(dm)  # no oracle passed: none
    auc = ceiling_metrics(dm, oracle=oracle_scores)["ceiling/test/oracle_auc"]
    labels = dm.trials["label"].to_numpy()
    train = labels[dm.assignment == "train"]
    test = labels[dm.assignment == "test"]
    scores = oracle_scores(normalised_split(dm, "train")[train >= 0],
                           normalised_twin(dm, "train")[train >= 0], train[train >= 0],
                           normalised_split(dm, "test")[test >= 0])
    assert auc == pytest.approx(roc_auc_score(test[test >= 0], scores), abs=1e-6)
    assert 0.0 <= auc <= 1.0


def test_the_phase_table_shows_pca_at_both_k_and_claims_nothing_inside_the_ci(tmp_path) -> None:
    from experiments import phase_tables
    from tests.test_phase_tables import READOUT, _run

    best = {"eval/cv/pca_k/k": 64.0, "eval/cv/pca_best_k/auc": 0.939,
            "eval/cv/pca_best_k/auc_ci_low": 0.894, "eval/cv/pca_best_k/auc_ci_high": 0.974,
            "eval/cv/pca_best_k/k_fold0": 16.0, "eval/cv/pca_best_k/k_fold1": 8.0,
            "eval/cv/encoder/auc": 0.944, "eval/cv/n_unlabeled_fit_rows": 444.0}
    diff = {"eval/cv/encoder_minus_pca_best_k/auc": 0.005,
            "eval/cv/encoder_minus_pca_best_k/auc_ci_low": -0.02,
            "eval/cv/encoder_minus_pca_best_k/auc_ci_high": 0.03}
    block = phase_tables.render("phase3", _run(tmp_path / "a", {**READOUT, **best, **diff}))
    assert "| PCA at the encoder's k | 0.651 [0.551, 0.769] (k = 64) |" in block
    assert "| PCA at the inner-CV k | 0.939 [0.894, 0.974] (k per fold: 16, 8) |" in block
    assert "plus the 444 rows the encoder trained on" in block
    verdict = block.split("Trained encoder:")[1]
    # above PCA at the inner-CV k by its point estimate, but the paired CI includes 0
    assert "above every baseline" in verdict and "CI includes 0 (no claim either way)" in verdict
    above = {**diff, "eval/cv/encoder_minus_pca_best_k/auc_ci_low": 0.01}
    block = phase_tables.render("phase3", _run(tmp_path / "b", {**READOUT, **best, **above}))
    assert "trained − PCA at the inner-CV k: above, CI excludes 0" in block


def test_the_oracle_with_more_voxels_than_rows_is_the_ledoit_wolf_solve() -> None:
    from scipy.linalg import solve
    from sklearn.covariance import LedoitWolf

    from bold5000_ae.evaluation.oracle import shrinkage_weights

    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 20)
    clean = np.outer(y, rng.standard_normal(300))
    obs = clean + rng.standard_normal((40, 300)) @ rng.standard_normal((300, 300)) / 10
    means = np.stack([clean[y == c].mean(0) for c in y])
    cov = LedoitWolf(assume_centered=True).fit(obs - means).covariance_
    direct = solve(cov, clean[y == 1].mean(0) - clean[y == 0].mean(0))
    np.testing.assert_allclose(shrinkage_weights(obs, clean, y), direct, rtol=1e-8,
                               atol=1e-10 * np.abs(direct).max())
