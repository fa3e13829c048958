"""Reconstruction and representation baselines, checked against answers derived by hand or by
an independent computation (numpy SVD), never against the implementation's own output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.covariance import LedoitWolf
from torch import nn

from bold5000_ae.evaluation.baselines import (
    oracle_map,
    reconstruction_baselines,
    summary_lines,
    untrained_copy,
    with_verdict,
)
from bold5000_ae.evaluation.crossval import grouped_cv
from bold5000_ae.evaluation.readout import encoder_map


def test_pca_baseline_equals_a_truncated_svd_on_a_small_array() -> None:
    rng = np.random.default_rng(0)
    train, test = rng.normal(size=(30, 7)), rng.normal(size=(10, 7))
    out = reconstruction_baselines(train, test, k=3)
    mean = train.mean(0)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:3]  # the top-3 principal axes
    recon = (test - mean) @ basis.T @ basis + mean
    mse = np.mean((recon - test) ** 2)
    assert out["baseline/pca_k/test/mse"] == pytest.approx(mse, rel=1e-9)
    assert out["baseline/pca_k/test/r2"] == pytest.approx(
        1 - mse / np.mean((test - mean) ** 2), rel=1e-9)
    assert out["baseline/pca_k/k"] == 3


def test_training_mean_has_r2_zero_and_exact_rank_k_data_has_r2_one() -> None:
    rng = np.random.default_rng(1)
    loadings = rng.normal(size=(2, 12))
    offset = rng.normal(size=12) * 5  # a non-centred mean: the baseline must remove it itself
    train = rng.normal(size=(40, 2)) @ loadings + offset
    test = rng.normal(size=(9, 2)) @ loadings + offset
    out = reconstruction_baselines(train, test, k=2, ceiling_r2=0.6)
    assert out["baseline/train_mean/test/r2"] == 0.0
    assert out["baseline/train_mean/test/mse"] == pytest.approx(
        np.mean((test - train.mean(0)) ** 2))
    assert out["baseline/pca_k/test/r2"] == pytest.approx(1.0, abs=1e-9)
    assert out["baseline/ceiling/test/r2"] == 0.6


def test_a_model_below_pca_is_reported_as_such() -> None:
    metrics = with_verdict({"test/r2": 0.68, "baseline/pca_k/test/r2": 0.77,
                            "baseline/pca_k/k": 8.0, "baseline/train_mean/test/r2": 0.0})
    assert metrics["test/r2_minus_pca_k"] == pytest.approx(-0.09)
    assert any("below PCA-k" in line for line in summary_lines(metrics))
    assert any("beats PCA-k" in line for line in summary_lines(
        with_verdict({"test/r2": 0.8, "baseline/pca_k/test/r2": 0.77})))


def test_untrained_copy_keeps_the_architecture_and_drops_the_weights() -> None:
    net = nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(0.5)
    a, b = untrained_copy(net, 0), untrained_copy(net, 1)
    assert [type(m) for m in a.modules()] == [type(m) for m in net.modules()]
    assert not torch.equal(a[0].weight, net[0].weight)  # re-initialised
    assert not torch.equal(a[0].weight, b[0].weight)  # seeds differ
    assert torch.equal(a[0].weight, untrained_copy(net, 0)[0].weight)  # and are reproducible
    assert torch.all(net[0].weight == 0.5)  # the original is untouched


def _planted(n_runs: int = 4, per_run: int = 60, dim: int = 120, seed: int = 0):
    """The label lives on one high-variance axis among 3 other high-variance axes, hidden in
    isotropic noise over ``dim`` voxels: an AE that learns the top principal axes keeps it, a
    random 4-d map of all voxels mostly does not."""
    rng = np.random.default_rng(seed)
    n = n_runs * per_run
    y = rng.integers(0, 2, n)
    axes = np.linalg.qr(rng.normal(size=(dim, 4)))[0].T
    strong = np.c_[(2 * y - 1) * 2.0 + rng.normal(size=n) * 1.5, rng.normal(size=(n, 3)) * 3.0]
    x = strong @ axes + rng.normal(size=(n, dim))
    return x.astype(np.float32), y, np.repeat(np.arange(n_runs), per_run)


def test_a_trained_encoder_beats_untrained_ones_where_the_structure_needs_learning() -> None:
    torch.manual_seed(0)
    x, y, groups = _planted()
    encoder, decoder = nn.Linear(x.shape[1], 4), nn.Linear(4, x.shape[1])
    opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-2)
    xt = torch.from_numpy((x - x.mean(0)) / x.std(0))
    for _ in range(400):  # a linear AE: learns the top-4 principal subspace, labels unseen
        opt.zero_grad()
        loss = ((decoder(encoder(xt)) - xt) ** 2).sum(1).mean()
        loss.backward()
        opt.step()
    cpu = torch.device("cpu")

    def auc(enc: nn.Module) -> float:
        return grouped_cv(encoder_map(enc, x, cpu, "voxel"), y, groups, n_permutations=0,
                          c=1.0).auc

    trained = auc(encoder)
    untrained = [auc(untrained_copy(encoder, s)) for s in range(3)]
    assert trained > 0.85
    assert trained > max(untrained) + 0.1, (trained, untrained)


def test_reference_rows_rank_pca_among_the_configurations() -> None:
    import pandas as pd

    from bold5000_ae.evaluation.reference_rows import reference_runs

    runs = pd.DataFrame([
        {"job": 0, "label": "loss=mse", "seed": 0, "status": "ok", "test/r2": 0.68,
         "baseline/pca_k/test/r2": 0.77, "baseline/train_mean/test/r2": 0.0},
        {"job": 1, "label": "loss=mse", "seed": 1, "status": "ok", "test/r2": 0.70,
         "baseline/pca_k/test/r2": 0.79, "baseline/train_mean/test/r2": 0.0},
        {"job": 2, "label": "loss=l1", "seed": 0, "status": "failed", "test/r2": float("nan"),
         "baseline/pca_k/test/r2": 0.5, "baseline/train_mean/test/r2": 0.0}])
    refs = reference_runs(runs, ["test/r2"])
    pca = refs[refs["label"].str.contains("PCA-k")]
    assert sorted(pca["test/r2"]) == [0.77, 0.79]  # the failed job's baseline is not used
    assert list(refs[refs["label"].str.contains("training mean")]["test/r2"]) == [0.0, 0.0]
    assert not refs["label"].str.contains("ceiling").any()  # not recorded: no row
    both = pd.concat([runs, refs]).query("status == 'ok'").groupby("label")["test/r2"].mean()
    assert both.idxmax().startswith("baseline: PCA-k")  # this sweep loses to PCA-k


def test_oracle_score_from_the_training_rows_only() -> None:
    # two voxels; training rows 0-3: the twin's class means differ by [2, 0]; the oracle is
    # Fisher's discriminant with the Ledoit-Wolf within-class covariance of the training rows
    twin = np.array([[2, 0], [2, 0], [0, 0], [0, 0], [0, 0], [0, 0]], float)
    resid = np.array([[1, 2], [-1, -2], [1, -2], [-1, 2], [0, 0], [0, 0]], float)
    bold = twin + resid
    bold[4:] = [[1, 1], [0.5, -3]]  # test rows
    labels = np.array([1, 1, 0, 0, 1, 0])
    train_rows = np.arange(4)
    score = oracle_map(bold, twin, labels)(train_rows)[:, 0]
    assert score.shape == (6,)
    cov = LedoitWolf(assume_centered=True).fit(resid[:4]).covariance_
    np.testing.assert_allclose(score[4:], bold[4:] @ np.linalg.solve(cov, [2.0, 0.0]),
                               rtol=1e-6)
    # nothing of the test rows enters: their twin and labels can be anything
    twin2, labels2 = twin.copy(), labels.copy()
    twin2[4:], labels2[4:] = [[9, 9], [-9, 3]], [0, 1]
    np.testing.assert_allclose(oracle_map(bold, twin2, labels2)(train_rows), score[:, None])
    # ... while the training rows' twin does (so the check above can fail)
    twin2[0] = [0, 4]
    assert not np.allclose(oracle_map(bold, twin2, labels)(train_rows)[4:, 0], score[4:])
    # rows outside the probe pool join the fit
    extra = (np.array([[0, 4], [0, 0]], float), np.array([[0, 4], [0, 0]], float),
             np.array([1, 0]))
    joined = oracle_map(bold, twin, labels, extra)(train_rows)[:, 0]
    assert not np.allclose(joined[4:], score[4:])


def test_oracle_on_the_same_folds_finds_the_planted_effect_a_blank_twin_does_not() -> None:
    # the class effect (1 noise sd) lies on 5 of 200 voxels: the ideal discriminant's d' is
    # sqrt(5) = 2.24, AUC = Phi(d' / sqrt 2) = 0.94
    rng = np.random.default_rng(3)
    n, v = 160, 200
    labels = np.tile([0, 1], n // 2)
    groups = np.repeat(np.arange(4), n // 4)
    twin = np.zeros((n, v))
    twin[:, :5] = 1.0 * labels[:, None]
    bold = twin + rng.standard_normal((n, v))
    oracle = grouped_cv(oracle_map(bold, twin, labels), labels, groups, n_permutations=0,
                        c=1.0, n_boot=50)
    null = grouped_cv(oracle_map(bold, np.zeros_like(twin), labels), labels, groups,
                      n_permutations=0, c=1.0)
    assert oracle.auc > 0.85 and oracle.ci[0] <= oracle.auc <= oracle.ci[1]
    assert abs(null.auc - 0.5) < 0.15  # a twin with no signal knows nothing


def test_a_module_in_the_references_package_is_registered_without_being_named(
        tmp_path, monkeypatch) -> None:
    """A new reconstruction baseline is one module: nothing imports it by name."""
    import sys

    from bold5000_ae.evaluation import reconstruction_references as refs

    package = tmp_path / "extra_references"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "zeros.py").write_text(
        "import numpy as np\n"
        "from bold5000_ae.evaluation.reconstruction_references import Fitted, Reference, "
        "register\n"
        "register(Reference('zeros', 'zeros', 'baseline: zeros', 'baseline: zeros',\n"
        "                   lambda train, k: Fitted(np.zeros_like)))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(refs, "REFERENCES", dict(refs.REFERENCES))
    monkeypatch.setattr(refs, "PLUGINS", "extra_references")
    monkeypatch.setattr(refs, "_plugins_loaded", False)
    monkeypatch.delitem(sys.modules, "extra_references", raising=False)
    rng = np.random.default_rng(1)
    train, test = rng.standard_normal((30, 6)) + 2.0, rng.standard_normal((10, 6)) + 2.0
    out = reconstruction_baselines(train, test, k=2)
    assert [r.name for r in refs.references()][-1] == "zeros"
    # zeros against data centred near 2: far worse than the training mean (R² 0 by definition)
    assert out["baseline/zeros/test/r2"] < -1 < out["baseline/train_mean/test/r2"]
