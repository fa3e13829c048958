"""Baselines every number is shown beside (docs/architecture.md, "Rules of the science").

Reconstruction, on the same normalised train/test rows as the model: every reference of
``reconstruction_references.py`` (the training mean, PCA with k = the model's latent size, and
any registered in ``references/``), each fitted on the training rows.

Where the file has a noise-free twin, each also gets ``signal_r2``: R² of its reconstruction
against the twin's rows (``signal_r2``), the fraction of the recoverable signal it holds. R²
against the noisy input rewards reconstructing structured noise (drift, smooth noise) too. Where
the training rows repeat images, both are also scored with their codes denoised by the Wiener
filter of the repeats' noise (``signal_r2_repeat_wiener``, ``repeat_wiener.py``).

Representations (feature maps for ``crossval.grouped_cv``; each fitted on a fold's training
rows only): PCA-k and a random Gaussian projection to k dimensions of the standardised voxels,
and untrained copies of an encoder (same architecture, fresh random init): if the trained
encoder does not beat these, training taught the read-out nothing. The oracle (``oracle_map``)
is scored on the same folds, from the noise-free twin, so it has a CI like the others. Every
representation map is fitted without labels on the rows the encoder trained on as well as the
fold's training rows (``readout.with_unlabeled``), and PCA is read both at the encoder's k and at
the k an inner CV on the fold's training rows picks (``pca_inner_k_map``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch

from bold5000_ae.evaluation.ceiling import ceiling_metrics, normalised_twin
from bold5000_ae.evaluation.crossval import FeatureMap, standardize
from bold5000_ae.evaluation.oracle import oracle_scores
from bold5000_ae.evaluation.pca import fit_pca
from bold5000_ae.evaluation.reconstruction_references import references
from bold5000_ae.evaluation.repeat_wiener import denoised_reconstruction


def _mse_r2(pred: np.ndarray, test: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    mse = float(np.mean((pred - test) ** 2))
    return mse, 1.0 - mse / float(np.mean((reference - test) ** 2))


def signal_r2(pred: np.ndarray, twin: np.ndarray, reference: np.ndarray | float = 0.0) -> float:
    """R² of a reconstruction against the noise-free twin's rows: 1 − Σ(pred − twin)² /
    Σ(reference − twin)², with the training mean (0 after normalisation) as the reference. 1:
    all of the signal and none of the noise; 0: no better than the training mean."""
    pred, twin = np.asarray(pred, np.float64), np.asarray(twin, np.float64)
    return 1.0 - float(((pred - twin) ** 2).sum()) / max(float(((reference - twin) ** 2).sum()),
                                                          1e-12)


def reconstruction_baselines(train: np.ndarray, test: np.ndarray, k: int,
                             ceiling_r2: float | None = None, split: str = "test",
                             twin: np.ndarray | None = None) -> dict[str, float]:
    """Per-voxel MSE and R² (against the training mean) on ``test`` of every registered
    reference fitted on ``train`` (``k``: the model's latent size), under
    ``baseline/<name>/<split>/<metric>``; plus the ceiling when recorded, and each one's
    ``signal_r2`` when ``twin`` (the noise-free part of ``test``) is given."""
    train, test = np.asarray(train, np.float64), np.asarray(test, np.float64)
    mean = train.mean(0, keepdims=True)
    out: dict[str, float] = {}
    for reference in references():
        if reference.fit is None:
            continue
        fitted = reference.fit(train, k)
        recon = fitted.reconstruct(test)
        key = f"baseline/{reference.name}"
        out[f"{key}/{split}/mse"], out[f"{key}/{split}/r2"] = _mse_r2(recon, test, mean)
        if twin is not None:
            out[f"{key}/{split}/signal_r2"] = signal_r2(recon, twin, mean)
        out.update({f"{key}/{name}": value for name, value in fitted.recorded.items()})
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
                                    normalised_split(datamodule, split), k, ceiling, split,
                                    twin=normalised_twin(datamodule, split))


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

    ``twin``: the prepared noise-free twin of the same rows (``evaluation/ceiling.py``). Per
    fold, the shrinkage linear discriminant of ``evaluation/oracle.py`` (the twin's class means,
    the observed within-class covariance with Ledoit-Wolf shrinkage), fitted on the fold's
    training rows; one feature, the score of every observed row. It needs labels (it is a
    bound, not a representation), so it gets a CI over trials like any read-out. ``extra``:
    (bold, twin, labels) of rows never scored (the runs outside the probe pool) that join every
    fold's fit: the oracle knows the signal as well as the whole file tells it, which a probe
    pool of two runs alone would not.
    """
    bold, twin = np.asarray(bold, np.float64), np.asarray(twin, np.float64)
    labels = np.asarray(labels).astype(int)
    if extra is None:
        extra = (bold[:0], twin[:0], labels[:0])
    x_bold, x_twin = (np.asarray(a, np.float64) for a in extra[:2])
    x_labels = np.asarray(extra[2]).astype(int)

    def features(train_rows: np.ndarray) -> np.ndarray:
        return oracle_scores(np.concatenate([bold[train_rows], x_bold]),
                             np.concatenate([twin[train_rows], x_twin]),
                             np.concatenate([labels[train_rows], x_labels]), bold)[:, None]

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
    ``test_metrics`` and a ``net`` with a ``latent_dim``), and the model's own ``signal_r2``
    beside theirs where the file has a twin; ``{}`` for any other model."""
    net = getattr(model, "net", None)
    if not hasattr(model, "test_metrics") or not hasattr(net, "latent_dim"):
        return {}
    out = datamodule_baselines(datamodule, int(net.latent_dim), split)
    twin = normalised_twin(datamodule, split)
    if twin is not None:
        recon = reconstruct(model, normalised_split(datamodule, split))
        out[f"{split}/signal_r2"] = signal_r2(recon, twin)
        out.update(repeat_wiener_signal(model, datamodule, split, twin))
    out.update(training_fit(model, datamodule, int(net.latent_dim)))
    return out


def repeat_wiener_signal(model: torch.nn.Module, datamodule: Any, split: str,
                         twin: np.ndarray) -> dict[str, float]:
    """Signal R² of the model and of PCA-k with their codes denoised by the Wiener filter of
    the training rows' repeated images (``repeat_wiener.py``); {} without repeats."""
    train, test = normalised_split(datamodule, "train"), normalised_split(datamodule, split)
    trials = datamodule.trials.iloc[np.flatnonzero(datamodule.assignment == "train")]
    pca = fit_pca(train, int(model.net.latent_dim))
    out = {}
    for key, (encode, decode) in {
            f"{split}/signal_r2_repeat_wiener": model_codec(model),
            f"baseline/pca_k/{split}/signal_r2_repeat_wiener": (pca.transform,
                                                                pca.inverse_transform)}.items():
        recon = denoised_reconstruction(encode, decode, train, trials.reset_index(drop=True),
                                        test)
        if recon is not None:
            out[key] = signal_r2(recon, twin)
    return out


def training_fit(model: torch.nn.Module, datamodule: Any, k: int) -> dict[str, float]:
    """R² on the model's own training rows after training (``fit/r2``) beside PCA-k's on the
    same rows (``baseline/pca_k/fit/r2``, the best any rank-k linear map can do there). A model
    far below PCA-k here cannot fit its data: a defect, whatever its test score."""
    train = normalised_split(datamodule, "train").astype(np.float64)
    if len(train) < 2:
        return {}
    pca = fit_pca(train, k)
    pca_mse, pca_r2 = _mse_r2(pca.inverse_transform(pca.transform(train)), train,
                              train.mean(0, keepdims=True))
    mse, r2 = _mse_r2(reconstruct(model, train.astype(np.float32)), train,
                      train.mean(0, keepdims=True))
    return {"fit/r2": r2, "fit/mse": mse, "baseline/pca_k/fit/r2": pca_r2,
            "baseline/pca_k/fit/mse": pca_mse}


def model_codec(model: torch.nn.Module, batch_size: int = 256
                ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """The model's ``embed`` and ``decode`` as functions of arrays (eval mode, batched)."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def apply(function: Callable[[torch.Tensor], torch.Tensor], rows: np.ndarray) -> np.ndarray:
        was_training = model.training
        model.eval()
        try:
            return torch.cat([function(torch.as_tensor(rows[i:i + batch_size], device=device,
                                                       dtype=torch.float32)).double().cpu()
                              for i in range(0, len(rows), batch_size)]).numpy()
        finally:
            model.train(was_training)
    return partial(apply, model.embed), partial(apply, model.decode)


@torch.no_grad()
def reconstruct(model: torch.nn.Module, rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The model's deterministic reconstruction of normalised rows (eval mode, its device)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        parts = [model(torch.as_tensor(rows[i:i + batch_size], device=device)).float().cpu()
                 for i in range(0, len(rows), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts).numpy() if parts else np.empty_like(rows)


def with_verdict(metrics: dict[str, float], split: str = "test") -> dict[str, float]:
    """Adds ``<split>/r2_minus_pca_k`` (the model's R² minus PCA-k's) when both are known, and
    ``<split>/signal_r2_minus_pca_k`` the same way for R² against the noise-free twin."""
    for metric in ("r2", "signal_r2"):
        model = metrics.get(f"{split}/{metric}")
        pca = metrics.get(f"baseline/pca_k/{split}/{metric}")
        if model is not None and pca is not None:
            metrics[f"{split}/{metric}_minus_pca_k"] = float(model) - float(pca)
    return metrics


def summary_lines(metrics: dict[str, float], split: str = "test") -> list[str]:
    """The reconstruction baselines beside the model's R², and whether it beats PCA-k; the same
    for R² against the noise-free twin (the signal recovered) where the file has one."""
    lines = []
    for reference in references():
        key = f"baseline/{reference.name}/{split}/r2"
        if reference.fit is not None and key in metrics:
            k = metrics.get(f"baseline/{reference.name}/k")
            extra = "" if k is None else f" (k={k:.0f}, fitted on the training rows)"
            lines.append(f"  {reference.column + ' R²':<16} {metrics[key]:.4f}{extra}")
    gap = metrics.get(f"{split}/r2_minus_pca_k")
    if gap is not None:
        verdict = "beats PCA-k" if gap > 0 else "below PCA-k"
        lines.append(f"  {split} R² − PCA-k R² {gap:+.4f}: {verdict}")
    if "fit/r2" in metrics and "baseline/pca_k/fit/r2" in metrics:
        lines.append(f"  {'fit R²':<16} {metrics['fit/r2']:.4f} on its own training rows "
                     f"(PCA-k {metrics['baseline/pca_k/fit/r2']:.4f}: the best rank-k linear fit)")
    if f"{split}/signal_r2" in metrics:
        lines.append(f"  {'signal R²':<16} {metrics[f'{split}/signal_r2']:.4f} (against the "
                     "noise-free twin: the fraction of the signal recovered; the twin scores 1)")
        pca = metrics.get(f"baseline/pca_k/{split}/signal_r2")
        if pca is not None:
            lines.append(f"  {'PCA-k signal R²':<16} {pca:.4f}")
        gap = metrics.get(f"{split}/signal_r2_minus_pca_k")
        if gap is not None:
            verdict = "beats PCA-k" if gap > 0 else "below PCA-k"
            lines.append(f"  signal R² − PCA-k {gap:+.4f}: {verdict}")
    denoised = metrics.get(f"{split}/signal_r2_repeat_wiener")
    if denoised is not None:
        pca = metrics.get(f"baseline/pca_k/{split}/signal_r2_repeat_wiener", float("nan"))
        lines.append(f"  {'+ repeat Wiener':<16} signal R² {denoised:.4f}, PCA-k {pca:.4f} (codes "
                     "denoised with the noise of the repeated images)")
    return lines
