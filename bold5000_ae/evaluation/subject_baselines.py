"""The reconstruction references of a multi-subject run, each fitted on one subject's own
training rows and voxels (subjects share no voxel set, so no reference spans them), scored on
that subject's test rows, and pooled over subjects the way the shared-latent module pools its
own R² (summed squared errors over summed squared deviations from the training mean)."""

from __future__ import annotations

from typing import Any

from bold5000_ae.evaluation.baselines import reconstruction_baselines
from bold5000_ae.evaluation.reconstruction_references import references


def per_subject_baselines(datamodule: Any, k: int, split: str = "test") -> dict[str, float]:
    """``baseline/<name>/<split>/r2_subject_<s>`` per subject and ``baseline/<name>/<split>/r2``
    pooled, for every fitted reference (``k``: the shared latent's size), from a set-up
    ``MultiSubjectDataModule`` (normalised split arrays per subject)."""
    fitted = [r.name for r in references() if r.fit is not None]
    out: dict[str, float] = {}
    errors = dict.fromkeys(fitted, 0.0)
    total = 0.0
    for subject in datamodule.subjects:
        data = datamodule.data[subject]
        test = data.bold[split]
        if not len(test):
            continue
        base = reconstruction_baselines(data.bold["train"], test, k, split=split)
        total += base[f"baseline/train_mean/{split}/mse"] * test.size
        for name in fitted:
            out[f"baseline/{name}/{split}/r2_subject_{subject}"] = base[
                f"baseline/{name}/{split}/r2"]
            errors[name] += base[f"baseline/{name}/{split}/mse"] * test.size
        out.update({key: value for key, value in base.items() if key.endswith("/k")})
    for name in fitted:
        if total > 0:
            out[f"baseline/{name}/{split}/r2"] = 1.0 - errors[name] / total
    return out
