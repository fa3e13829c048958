"""Every read-out of a prepared file, registered once: its name in the metrics
(``<prefix>/<name>/auc``), the labels the tables print, and, for a plain baseline, the function
that builds its feature map. The read-out (``readout.classify_file``), its table
(``readout.format_table``), the phase tables and the ``classification.baselines`` defaults all
read this list, so a new baseline is one ``register`` call in its own module.

Read-outs without ``features`` (the encoder, its untrained copies, PCA at the inner-CV k, the
raw voxels, the oracle) need more than one feature map per fold (several inits, an inner CV, a
second C grid, the noise-free twin): ``classify_file`` computes them itself. Every read-out is a
ROC AUC, so higher is better for all of them.

The reconstruction references (``baseline/<name>/<split>/<metric>``) have their own registry,
``reconstruction_references.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bold5000_ae.evaluation.baselines import pca_map, random_projection_map
from bold5000_ae.evaluation.crossval import FeatureMap
from bold5000_ae.utils.errors import InputError


@dataclass(frozen=True)
class ReadoutInputs:
    """What a baseline's feature map may use besides the voxels: the encoder's latent size (a
    baseline gets as many dimensions as the encoder) and the read-out's seed."""

    latent_dim: int
    seed: int


FeatureBuilder = Callable[[np.ndarray, ReadoutInputs], FeatureMap]


@dataclass(frozen=True)
class Readout:
    """One read-out. ``kind``: ``encoder`` (what is measured), ``baseline`` (what it must beat)
    or ``bound`` (what no linear read-out should exceed). ``default``: computed unless
    ``classification.baselines`` leaves it out (only read-outs that list selects)."""

    name: str
    label: str
    description: str
    kind: Literal["encoder", "baseline", "bound"] = "baseline"
    features: FeatureBuilder | None = None
    default: bool = False


READOUTS: dict[str, Readout] = {}
MODULES = "bold5000_ae.evaluation.readouts"  # <name>.py here registers the read-out <name>


def register(readout: Readout) -> Readout:
    """Add a read-out after those already registered (tables list them in this order)."""
    READOUTS[readout.name] = readout
    return readout


def readouts() -> list[Readout]:
    """The registered read-outs, in table order."""
    return list(READOUTS.values())


def selected(names: Iterable[str]) -> set[str]:
    """The read-outs ``classification.baselines`` names, each registered by now: a name not yet
    registered is imported from ``MODULES`` (its module registers it), so a new baseline is one
    module and its name in the config. A name no module registers is an error, not a silently
    missing row."""
    names = set(names)
    for name in sorted(names - set(READOUTS)):
        try:
            importlib.import_module(f"{MODULES}.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"{MODULES}.{name}":
                raise
        if name not in READOUTS:
            raise InputError("classification.baselines", f"no read-out {name!r}; registered: "
                             f"{', '.join(READOUTS)}")
    return names


register(Readout("encoder", "encoder", "trained encoder latent, nested C", kind="encoder"))
register(Readout("untrained", "untrained",
                 "untrained encoder, same architecture (mean of inits)", default=True))
register(Readout("pca_k", "pca_k", "PCA at the encoder's k", default=True,
                 features=lambda x, inputs: pca_map(x, inputs.latent_dim)))
register(Readout("pca_best_k", "pca_best_k", "PCA at the inner-CV k", default=True))
register(Readout("random_projection", "random_projection",
                 "random Gaussian projection to k dims", default=True,
                 features=lambda x, inputs: random_projection_map(x, inputs.latent_dim,
                                                                  inputs.seed)))
register(Readout("raw_voxels", "raw_voxels", "raw in-mask voxels, nested C"))
register(Readout("oracle", "oracle (twin)",
                 "linear oracle: the twin's class means, shrunk full covariance", kind="bound"))

