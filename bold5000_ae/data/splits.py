"""Train/val/test splits that keep whole groups (runs, sessions, subjects) on one side.

Why groups: neighbouring volumes of one trial, and trials of one run, share slow noise and
drift; a split by volume lets that shared noise leak into validation (the seed project's
mistake). ``image_disjoint`` additionally drops from val/test every sample whose image was also
shown in training, which image tasks need because BOLD5000 repeats images across runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from bold5000_ae.errors import InputError

SPLIT_NAMES = ("train", "val", "test")


def group_keys(trials: pd.DataFrame, group_by: Sequence[str]) -> np.ndarray:
    """One string key per sample naming its group, e.g. ``subject=1/session=2/run=3``."""
    return trials[list(group_by)].astype(int).astype(str).apply(
        lambda row: "/".join(f"{k}={v}" for k, v in row.items()), axis=1).to_numpy()


def _holdout(groups: np.ndarray, size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
    keep, held = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return keep, held


class GroupHoldoutSplit:
    """Hold out ``val_groups`` and ``test_groups`` whole groups (counts or fractions)."""

    def __init__(self, group_by: Sequence[str] = ("subject", "session", "run"),
                 val_groups: int | float = 1, test_groups: int | float = 1, seed: int = 0,
                 image_disjoint: bool = False) -> None:
        self.group_by, self.seed = tuple(group_by), seed
        self.val_groups, self.test_groups = val_groups, test_groups
        self.image_disjoint = image_disjoint

    def assign(self, trials: pd.DataFrame) -> np.ndarray:
        """An array of 'train' / 'val' / 'test' / 'excluded', one per sample."""
        groups = group_keys(trials, self.group_by)
        needed = (self.test_groups if isinstance(self.test_groups, int) else 1) + (
            self.val_groups if isinstance(self.val_groups, int) else 1)
        if len(set(groups)) <= needed:
            raise InputError("split", f"{len(set(groups))} groups by {'/'.join(self.group_by)}"
                                      f" cannot give {needed} held-out groups and a training set")
        out = np.full(len(trials), "train", dtype=object)
        rest, test = _holdout(groups, self.test_groups, self.seed)
        out[test] = "test"
        if self.val_groups:
            keep, val = _holdout(groups[rest], self.val_groups, self.seed + 1)
            out[rest[val]] = "val"
        if self.image_disjoint:
            train_images = set(trials.image_index.to_numpy()[out == "train"])
            shared = np.isin(trials.image_index.to_numpy(), list(train_images)) & (out != "train")
            out[shared] = "excluded"
        return out

    def describe(self) -> dict:
        return {"kind": "group_holdout", "group_by": list(self.group_by),
                "val_groups": self.val_groups, "test_groups": self.test_groups,
                "seed": self.seed, "image_disjoint": self.image_disjoint}
