"""The model benchmark's headroom estimators on a problem whose answer is known in closed form:
a rank-4 signal under noise whose strongest directions are not the signal's, so PCA-4 keeps
noise and the optimal linear estimate E[s|x] = Σ_s Σ_x⁻¹ x (computed here from the population
covariances, not by the code under test) holds much more of the signal."""

import numpy as np
import pandas as pd
import pytest

from bold5000_ae.evaluation.repeat_wiener import repeat_pairs
from experiments.model_benchmark.headroom import (
    pca,
    ridge_to_twin,
    twin_rank,
    wiener,
    wiener_from_repeats,
)

V, K = 40, 4


def signal_r2(pred: np.ndarray, twin: np.ndarray) -> float:
    return 1.0 - float(((pred - twin) ** 2).sum() / (twin ** 2).sum())


@pytest.fixture(scope="module")
def problem() -> dict:
    rng = np.random.default_rng(0)
    signal_map = rng.standard_normal((V, K))
    noise_map = 1.5 * rng.standard_normal((V, 8))  # 8 strong noise directions
    noise_cov = noise_map @ noise_map.T + 0.3 * np.eye(V)
    signal_cov = signal_map @ signal_map.T

    def draw(n_images: int, repeats: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        images = np.repeat(np.arange(n_images), repeats)
        twin = (rng.standard_normal((n_images, K)) @ signal_map.T)[images]
        noise = rng.multivariate_normal(np.zeros(V), noise_cov, size=len(images))
        trials = pd.DataFrame({"image_index": images, "offset_s": 4.0})
        return twin + noise, twin, trials

    train, train_twin, trials = draw(1500, 2)
    test, test_twin, _ = draw(500, 1)
    optimum = test @ np.linalg.solve(signal_cov + noise_cov, signal_cov)
    return dict(train=train, train_twin=train_twin, trials=trials, test=test,
                test_twin=test_twin, noise_cov=noise_cov,
                optimum_r2=signal_r2(optimum, test_twin))


def test_pca_keeps_noise_where_the_optimal_linear_estimate_does_not(problem):
    pca_r2 = signal_r2(pca(K)(problem["train"], problem["train_twin"], problem["test"]),
                       problem["test_twin"])
    assert pca_r2 < problem["optimum_r2"] - 0.2


def test_wiener_with_the_true_noise_reaches_the_optimum(problem):
    # Σ_s is the 3,000 rows' sample covariance minus the population noise: within 0.05
    pred = wiener(problem["train"], problem["noise_cov"], problem["test"])
    assert abs(signal_r2(pred, problem["test_twin"]) - problem["optimum_r2"]) < 0.05


def test_ridge_to_the_twin_reaches_the_optimum(problem):
    pred = ridge_to_twin(problem["train"], problem["train_twin"], problem["test"])
    assert abs(signal_r2(pred, problem["test_twin"]) - problem["optimum_r2"]) < 0.02


def test_repeat_differences_are_noise_with_its_covariance(problem):
    pairs = repeat_pairs(problem["trials"])
    assert len(pairs) == 1500  # one pair per image shown twice
    assert (problem["trials"].image_index.to_numpy()[pairs[:, 0]]
            == problem["trials"].image_index.to_numpy()[pairs[:, 1]]).all()
    train = problem["train"]
    diffs = (train[pairs[:, 0]] - train[pairs[:, 1]]) / np.sqrt(2)
    estimated = np.cov(diffs, rowvar=False)
    relative = np.linalg.norm(estimated - problem["noise_cov"]) / np.linalg.norm(
        problem["noise_cov"])
    assert relative < 0.1


def test_wiener_from_repeats_beats_pca_without_the_twin(problem):
    pred = wiener_from_repeats(problem["train"], problem["trials"], problem["test"])
    pca_pred = pca(K)(problem["train"], problem["train_twin"], problem["test"])
    assert signal_r2(pred, problem["test_twin"]) > signal_r2(pca_pred, problem["test_twin"]) + 0.1


def test_repeat_wiener_on_pca_scores_beats_pca(problem):
    pred = wiener_from_repeats(problem["train"], problem["trials"], problem["test"], k=8)
    pca_pred = pca(K)(problem["train"], problem["train_twin"], problem["test"])
    assert signal_r2(pred, problem["test_twin"]) > signal_r2(pca_pred, problem["test_twin"])


def test_a_rank_k_twin_is_held_whole_by_its_top_k_components(problem):
    pred = twin_rank(K)(problem["train_twin"], problem["test_twin"])
    assert signal_r2(pred, problem["test_twin"]) == pytest.approx(1.0, abs=1e-9)
