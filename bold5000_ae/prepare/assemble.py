"""Attach stimulus images, labels and repeat indices to the samples of any source.

Every source yields samples with a ``presented_name``; this module turns those names into image
identities (``rep_`` stripped), one stored image per identity, living/non-living labels by the
configured rule, and the repeat index of each presentation. Doing it once here keeps the label
rule identical across sources.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bold5000_ae.prepare.labeler_factory import build_labeler
from bold5000_ae.prepare.labels import UNKNOWN
from bold5000_ae.prepare.stimuli import (
    ImageRef,
    find_stimulus_image,
    load_image,
    parse_image_name,
    repeat_indices,
)
from bold5000_ae.utils.errors import InputError


def image_refs(samples: pd.DataFrame) -> list[ImageRef]:
    types = samples["img_type"] if "img_type" in samples else [None] * len(samples)
    return [parse_image_name(name, t if isinstance(t, str) else None)
            for name, t in zip(samples["presented_name"], types)]


def attach_images_and_labels(samples: pd.DataFrame, *, stimuli_root: str | Path | None,
                             image_size: int, labels: Mapping[str, Any]
                             ) -> tuple[pd.DataFrame, np.ndarray, list[str], np.ndarray, dict]:
    """Return (trials table, images (M,H,W,3), image names, image_present, label rule).

    ``samples`` must be in presentation order within each subject (as sources yield them).
    """
    labels = dict(labels)
    fail_on_unlabeled = bool(labels.pop("fail_on_unlabeled", False))
    refs = image_refs(samples)
    names = [r.image_name for r in refs]
    unique = list(dict.fromkeys(names))
    index = {name: i for i, name in enumerate(unique)}
    labeler = build_labeler(dict(labels))
    by_name = {r.image_name: r for r in refs}
    label_of = {name: labeler.label(by_name[name]) for name in unique}
    if fail_on_unlabeled:
        unlabeled = [name for name in unique if label_of[name] == UNKNOWN]
        if unlabeled:
            raise InputError(by_name[unlabeled[0]].presented_name,
                             f"cannot label this image ({by_name[unlabeled[0]].source}; "
                             f"{len(unlabeled)} image(s) unlabelled in all) and "
                             "labels.fail_on_unlabeled is true")

    images = np.zeros((len(unique), image_size, image_size, 3), np.uint8)
    present = np.zeros(len(unique), bool)
    if stimuli_root is not None:
        for i, name in enumerate(unique):
            path = find_stimulus_image(stimuli_root, by_name[name])
            if path is not None:
                images[i] = load_image(path, image_size)
                present[i] = True

    trials = samples[["subject", "session", "run", "trial", "offset_s"]].copy()
    trials["image_index"] = [index[n] for n in names]
    trials["label"] = [label_of[n] for n in names]
    # Repeat index counts presentations (trials), not volumes: one per (subject, trial).
    key = trials[["subject", "session", "run", "trial"]].astype(str).agg("-".join, axis=1)
    first_rows = ~key.duplicated()
    repeats = pd.Series(0, index=trials.index)
    for _, rows in trials[first_rows].groupby("subject").groups.items():
        repeats[rows] = repeat_indices([names[i] for i in rows])
    trials["repeat_index"] = repeats.groupby(key).transform("first")
    rule = labeler.describe()
    rule["unknown_label"] = UNKNOWN
    rule["fail_on_unlabeled"] = fail_on_unlabeled
    return trials.reset_index(drop=True), images, unique, present, rule
