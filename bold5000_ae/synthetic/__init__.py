"""The built-in synthetic BOLD5000: ``brain`` (default, brain.py) and ``easy`` (easy.py).

``generate(out_dir, spec)`` writes either into ``out_dir`` atomically, with a manifest of the
files it wrote (``manifest.py``: a later overwrite removes only those); the spec's type chooses
the model. ``make_spec`` builds a spec from a config mapping (its ``generator`` key), so the CLI
and tests share one validation path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from bold5000_ae.synthetic.brain import generate_brain
from bold5000_ae.synthetic.easy import brain_mask, generate_easy
from bold5000_ae.synthetic.manifest import write_manifest
from bold5000_ae.synthetic.spec import BrainSpec, EasySpec
from bold5000_ae.utils.atomic_io import atomic_dir
from bold5000_ae.utils.errors import InputError
from bold5000_ae.utils.interrupts import raise_if_interrupted

__all__ = ["BrainSpec", "EasySpec", "brain_mask", "generate", "make_spec"]
SPECS = {"brain": BrainSpec, "easy": EasySpec}


def generate(out_dir: str | Path, spec: EasySpec | BrainSpec | None = None,
             n_jobs: int = 1) -> dict:
    """Write the dataset under ``out_dir`` (atomically) and return the ground-truth summary.
    No spec: the easy model with its defaults (the fastest to generate, for unit tests).
    ``n_jobs``: brain generator runs at once when the spec has ``seed_per_run`` (runs.py)."""
    spec = EasySpec() if spec is None else spec
    with atomic_dir(Path(out_dir)) as tmp:
        truth = (generate_brain(tmp, spec, n_jobs) if isinstance(spec, BrainSpec)
                 else generate_easy(tmp, spec))
        write_manifest(tmp)
        raise_if_interrupted()  # a Ctrl-C lost in a finalizer still stops the commit
        return truth


def make_spec(values: Mapping[str, Any]) -> EasySpec | BrainSpec:
    """The spec named by ``values['generator']`` (default brain); unknown fields and bad values
    are one-line InputErrors naming them."""
    values = dict(values)
    kind = values.get("generator", "brain")
    if kind not in SPECS:
        raise InputError("spec.generator", f"unknown generator {kind!r}; valid: "
                                           f"{', '.join(SPECS)}")
    cls = SPECS[kind]
    valid = sorted(f.name for f in fields(cls))
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise InputError("spec", f"unknown field(s) {', '.join(unknown)}; valid: "
                                 f"{', '.join(valid)}")
    _check_types(cls, values)
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    except TypeError as exc:
        raise InputError("spec", str(exc)) from None


def _check_types(cls: type, values: Mapping[str, Any]) -> None:
    """Each value has its field's kind (that of the default): ``spec.seed=abc`` is one line here,
    not a NumPy traceback once generation has started."""
    for f in fields(cls):
        if f.name not in values:
            continue
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        value, key = values[f.name], f"spec.{f.name}"
        if isinstance(default, bool):
            ok, kind = isinstance(value, bool), "true or false"
        elif isinstance(default, int) and "tuple" in str(f.type):  # one count, or one each
            items = value if isinstance(value, list | tuple) else [value]
            ok = all(isinstance(v, int) and not isinstance(v, bool) for v in items)
            kind = "a whole number or a list of whole numbers"
        elif isinstance(default, int):
            ok, kind = isinstance(value, int) and not isinstance(value, bool), "a whole number"
        elif isinstance(default, float):
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
            kind = "a finite number"
        elif isinstance(default, str):
            ok, kind = isinstance(value, str), "a string"
        elif isinstance(default, tuple):
            ok, kind = isinstance(value, list | tuple), "a list"
        elif isinstance(default, dict):
            ok, kind = isinstance(value, Mapping), "a mapping"
        else:
            continue
        if not ok:
            raise InputError(key, f"must be {kind}, got {value!r}")
