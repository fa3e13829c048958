"""Baselines every number is shown beside (DESIGN.md, "Rules of the science").

Reconstruction, on the same normalised train/test rows as the model:

- the training mean: R² 0 by construction (R² here is 1 − MSE/MSE(training mean)); computed,
  not assumed, so a broken normalisation shows up as a nonzero value;
- PCA with k = the model's latent size, fitted on the training rows (``sklearn.decomposition.PCA``,
  ``IncrementalPCA`` when the training matrix is large): the linear autoencoder with the same
  bottleneck, the first thing a nonlinear AE must beat.

Representations (feature maps for ``crossval.grouped_cv``; each fitted on a fold's training
rows only): PCA-k and a random Gaussian projection to k dimensions of the standardised voxels,
and untrained copies of an encoder (same architecture, fresh random init): if the trained
encoder does not beat these, training taught the read-out nothing. The oracle (``oracle_map``)
is scored on the same folds, from the noise-free twin, so it has a CI like the others.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA, IncrementalPCA

from bold5000_ae.data.ceiling import ceiling_metrics
from bold5000_ae.evaluation.crossval import FeatureMap, standardize

# above this many training values (rows × voxels), PCA is fitted in batches
INCREMENTAL_ABOVE = 50_000_000


def fit_pca(train: np.ndarray, k: int, seed: int = 0) -> PCA | IncrementalPCA:
    """PCA with ``k`` components on ``train`` (IncrementalPCA when the matrix is large)."""
    k = int(min(k, train.shape[0], train.shape[1]))
    if train.size > INCREMENTAL_ABOVE:
        return IncrementalPCA(n_components=k, batch_size=max(k, 1024)).fit(train)
    return PCA(n_components=k, svd_solver="full", random_state=seed).fit(train)


def _mse_r2(pred: np.ndarray, test: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    mse = float(np.mean((pred - test) ** 2))
    return mse, 1.0 - mse / float(np.mean((reference - test) ** 2))


def reconstruction_baselines(train: np.ndarray, test: np.ndarray, k: int,
                             ceiling_r2: float | None = None,
                             split: str = "test") -> dict[str, float]:
    """Per-voxel MSE and R² (against the training mean) of the training mean and of PCA-k on
    ``test``, under ``baseline/<name>/<split>/<metric>``; plus the ceiling when recorded."""
    train, test = np.asarray(train, np.float64), np.asarray(test, np.float64)
    mean = train.mean(0, keepdims=True)
    out: dict[str, float] = {}
    mse, r2 = _mse_r2(np.broadcast_to(mean, test.shape), test, mean)
    out[f"baseline/train_mean/{split}/mse"], out[f"baseline/train_mean/{split}/r2"] = mse, r2
    pca = fit_pca(train, k)
    recon = pca.inverse_transform(pca.transform(test))
    mse, r2 = _mse_r2(recon, test, mean)
    out[f"baseline/pca_k/{split}/mse"], out[f"baseline/pca_k/{split}/r2"] = mse, r2
    out["baseline/pca_k/k"] = float(pca.n_components_)
    if ceiling_r2 is not None:
        out[f"baseline/ceiling/{split}/r2"] = float(ceiling_r2)
    return out


def normalised_split(datamodule: Any, name: str) -> np.ndarray:
    """Split ``name``'s rows of a set-up ``BoldDataModule``, normalised as the model sees them."""
    rows = np.flatnonzero(datamodule.assignment == name)
    try:  # every prepared file of the set, on the voxels they share
        bold = datamodule.files.read(rows, np.float32)
    finally:
        datamodule.files.close()  # nothing left open before DataLoader workers fork
    return (bold - datamodule.mean) / datamodule.std


def datamodule_baselines(datamodule: Any, k: int, split: str = "test") -> dict[str, float]:
    """``reconstruction_baselines`` on a datamodule's training rows and ``split``."""
    ceiling = ceiling_metrics(datamodule).get(f"ceiling/{split}/r2")  # the twin, these rows
    return reconstruction_baselines(normalised_split(datamodule, "train"),
                                    normalised_split(datamodule, split), k, ceiling, split)


def pca_map(x: np.ndarray, k: int) -> FeatureMap:
    """PCA-k scores of the standardised voxels, fitted on a fold's training rows."""
    def features(train_rows: np.ndarray) -> np.ndarray:
        z = standardize(train_rows, x)
        return fit_pca(z[train_rows], k).transform(z)

    return features


def random_projection_map(x: np.ndarray, k: int, seed: int = 0) -> FeatureMap:
    """A fixed Gaussian projection of the standardised voxels to k dimensions (no learning)."""
    w = np.random.default_rng(seed).standard_normal((x.shape[1], k)) / np.sqrt(k)
    return lambda train_rows: standardize(train_rows, x) @ w


def oracle_map(bold: np.ndarray, twin: np.ndarray, labels: np.ndarray,
               extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> FeatureMap:
    """The read-out that knows the noise-free signal, scored on the same folds as the others.

    ``twin``: the prepared noise-free twin of the same rows (``bold5000_ae.data.ceiling``). Per
    fold, a diagonal-noise linear discriminant: class means from the twin's training rows,
    noise variance per voxel from the training residuals (observed − twin); one feature, the
    score of every observed row. Only the fold's training rows and their labels are used (unlike
    the other maps it needs labels: it is a reference, not a representation), so it gets a CI
    over trials like any read-out. ``extra``: (bold, twin, labels) of rows never scored (the
    runs outside the probe pool) that join every fold's fit: the oracle knows the signal as
    well as the whole file tells it, which a probe pool of two runs alone would not. As in
    ``ceiling.py``: a strong reference, not a proof of Bayes optimality (its noise model is
    diagonal; spatially correlated noise is where a fitted read-out can come near or above it).
    """
    bold, twin = np.asarray(bold, np.float64), np.asarray(twin, np.float64)
    labels = np.asarray(labels).astype(int)
    if extra is None:
        extra = (bold[:0], twin[:0], labels[:0])
    x_bold, x_twin = (np.asarray(a, np.float64) for a in extra[:2])
    x_labels = np.asarray(extra[2]).astype(int)

    def features(train_rows: np.ndarray) -> np.ndarray:
        y = np.concatenate([labels[train_rows], x_labels])
        clean = np.concatenate([twin[train_rows], x_twin])
        noise_var = (np.concatenate([bold[train_rows], x_bold]) - clean).var(axis=0) + 1e-6
        diff = clean[y == 1].mean(axis=0) - clean[y == 0].mean(axis=0)
        return (bold @ (diff / noise_var))[:, None]

    return features


def untrained_copy(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A deep copy of ``module`` with every layer re-initialised from ``seed`` (its own
    ``reset_parameters``, as at construction): same architecture, nothing learned."""
    fresh = copy.deepcopy(module)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        for layer in fresh.modules():
            if hasattr(layer, "reset_parameters") and callable(layer.reset_parameters):
                layer.reset_parameters()
            if hasattr(layer, "reset_running_stats"):
                layer.reset_running_stats()
    finally:
        torch.random.set_rng_state(gen_state)
    return fresh.eval()


def model_baselines(model: torch.nn.Module, datamodule: Any,
                    split: str = "test") -> dict[str, float]:
    """Reconstruction baselines for a model that reconstructs (an AE or VAE: it has
    ``test_metrics`` and a ``net`` with a ``latent_dim``); ``{}`` for any other model."""
    net = getattr(model, "net", None)
    if not hasattr(model, "test_metrics") or not hasattr(net, "latent_dim"):
        return {}
    return datamodule_baselines(datamodule, int(net.latent_dim), split)


def with_verdict(metrics: dict[str, float], split: str = "test") -> dict[str, float]:
    """Adds ``<split>/r2_minus_pca_k`` (the model's R² minus PCA-k's) when both are known."""
    model, pca = metrics.get(f"{split}/r2"), metrics.get(f"baseline/pca_k/{split}/r2")
    if model is not None and pca is not None:
        metrics[f"{split}/r2_minus_pca_k"] = float(model) - float(pca)
    return metrics


def summary_lines(metrics: dict[str, float], split: str = "test") -> list[str]:
    """The reconstruction baselines beside the model's R², and whether it beats PCA-k."""
    lines = []
    for name, label in (("train_mean", "training mean R²"), ("pca_k", "PCA-k R²")):
        key = f"baseline/{name}/{split}/r2"
        if key in metrics:
            k = metrics.get("baseline/pca_k/k", float("nan"))
            extra = f" (k={k:.0f}, fitted on the training rows)" if name == "pca_k" else ""
            lines.append(f"  {label:<16} {metrics[key]:.4f}{extra}")
    gap = metrics.get(f"{split}/r2_minus_pca_k")
    if gap is not None:
        verdict = "beats PCA-k" if gap > 0 else "below PCA-k"
        lines.append(f"  {split} R² − PCA-k R² {gap:+.4f}: {verdict}")
    return lines
