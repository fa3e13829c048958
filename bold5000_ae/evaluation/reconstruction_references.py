"""Every reconstruction reference a run records as ``baseline/<name>/<split>/<metric>``,
registered once: how it is fitted on the training rows, and the labels that ``make train``'s
summary, the sweep report (``report/table.py``) and its ranking rows (``reference_rows.py``)
print. ``baselines.reconstruction_baselines`` scores every fitted reference on the same rows as
the model, so a new one is one module in ``references/`` (``docs/extending.md``).

A label says ``baseline:`` or ``ceiling:``: that is how the report tells the two kinds apart.
The ceiling is recorded, not fitted: it is the noise-free twin's R² on the same rows
(``ceiling.py``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from bold5000_ae.evaluation.pca import fit_pca


@dataclass(frozen=True)
class Fitted:
    """A reference fitted on the training rows: ``reconstruct`` maps rows to their
    reconstruction; ``recorded`` holds numbers to keep as ``baseline/<name>/<key>`` (PCA-k's
    actual k, say)."""

    reconstruct: Callable[[np.ndarray], np.ndarray]
    recorded: dict[str, float] = field(default_factory=dict)


Fitter = Callable[[np.ndarray, int], Fitted]  # (training rows, the model's latent size) → Fitted


@dataclass(frozen=True)
class Reference:
    """``column``: its name in tables and in ``make train``'s summary (``<column> R²``);
    ``label``: its row in the sweep report; ``ranking_label``: its pseudo-run in a ranking;
    ``fit``: none for a reference that is recorded rather than fitted."""

    name: str
    column: str
    label: str
    ranking_label: str
    fit: Fitter | None = None


REFERENCES: dict[str, Reference] = {}
PLUGINS = "bold5000_ae.evaluation.references"
_plugins_loaded = False


def register(reference: Reference) -> Reference:
    """Add a reference after those already registered (reports list them in this order)."""
    REFERENCES[reference.name] = reference
    return reference


def references() -> list[Reference]:
    """Every registered reference, the modules in ``references/`` imported first."""
    global _plugins_loaded
    if not _plugins_loaded:
        package = importlib.import_module(PLUGINS)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{PLUGINS}.{info.name}")
        _plugins_loaded = True
    return list(REFERENCES.values())


def reference(name: str) -> Reference | None:
    return next((r for r in references() if r.name == name), None)


def training_mean(train: np.ndarray, k: int) -> Fitted:
    """Every row reconstructed as the training mean: R² 0 by construction (R² here is
    1 − MSE/MSE(training mean)); computed, not assumed, so a broken normalisation shows."""
    mean = train.mean(0, keepdims=True)
    return Fitted(lambda rows: np.broadcast_to(mean, rows.shape))


def pca_k(train: np.ndarray, k: int) -> Fitted:
    """PCA with the model's latent size, fitted on the training rows: the linear autoencoder
    with the same bottleneck, the first thing a nonlinear one must beat."""
    pca = fit_pca(train, k)
    return Fitted(lambda rows: pca.inverse_transform(pca.transform(rows)),
                  {"k": float(pca.n_components_)})


register(Reference("train_mean", "training mean", "baseline: train_mean",
                   "baseline: training mean", training_mean))
register(Reference("pca_k", "PCA-k", "baseline: pca_k", "baseline: PCA-k (same latent size)",
                   pca_k))
register(Reference("ceiling", "ceiling (noise-free twin)", "ceiling: noise-free twin",
                   "ceiling: noise-free signal"))
