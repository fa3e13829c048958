"""Train/val/test splits that keep whole groups (runs, sessions, subjects) on one side.

Why groups: neighbouring volumes of one trial, and trials of one run, share slow noise and
drift; a split by volume lets that shared noise leak into validation and inflates its
scores. Every split here assigns whole groups of at least a run, so a trial's volumes and a
run never straddle sides. ``image_disjoint`` additionally gives every image one side: a val
sample whose image is in train, and a test sample whose image is in train or val, become
``excluded``, which image tasks need because BOLD5000 repeats images across runs.

Every split has ``assign(trials) -> array of 'train'/'val'/'test'/'excluded'`` (one per sample)
and ``describe()`` (written into the run's outputs). ``check_split_keeps_groups`` refuses a split
that cuts a group the prepared file was normalised within.

scikit-learn is imported inside the splits that use it: the data module imports this module,
and the GPU benchmark runs the data module on a machine without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bold5000_ae.utils.errors import InputError

SPLIT_NAMES = ("train", "val", "test")


class Split(Protocol):
    def assign(self, trials: pd.DataFrame) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


def group_keys(trials: pd.DataFrame, group_by: Sequence[str]) -> np.ndarray:
    """One string key per sample naming its group, e.g. ``subject=1/session=2/run=3``."""
    cols = trials[list(group_by)].astype(int).astype(str)
    keys = pd.Series("", index=trials.index)
    for i, name in enumerate(group_by):
        keys = keys + ("/" if i else "") + f"{name}=" + cols[name]
    return keys.to_numpy()


def _holdout(groups: np.ndarray, size: int | float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import GroupShuffleSplit  # late: module docstring

    splitter = GroupShuffleSplit(n_splits=1, test_size=size, random_state=seed)
    keep, held = next(splitter.split(np.zeros(len(groups)), groups=groups))
    return keep, held


def _check_groups(groups: np.ndarray, needed: int, group_by: Sequence[str]) -> None:
    n = len(set(groups))
    if n <= needed:
        raise InputError("split", f"{n} groups by {'/'.join(group_by)} cannot give {needed} "
                                  "held-out group(s) and a training set")


def _hold_val(out: np.ndarray, trials: pd.DataFrame, group_by: Sequence[str],
              val_groups: int | float, seed: int) -> None:
    """Move ``val_groups`` whole groups of the current training rows to val."""
    if not val_groups:
        return
    rest = np.flatnonzero(out == "train")
    groups = group_keys(trials.iloc[rest], group_by)
    _check_groups(groups, val_groups if isinstance(val_groups, int) else 1, group_by)
    _, val = _holdout(groups, val_groups, seed)
    out[rest[val]] = "val"


def image_disjoint(out: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Give each image one side (train first, then val): later sides lose shared images."""
    out = out.copy()
    seen: set[int] = set()
    for side in SPLIT_NAMES:
        rows = out == side
        out[rows & np.isin(images, list(seen))] = "excluded"
        seen.update(images[out == side].tolist())
    return out


def _finish(out: np.ndarray, trials: pd.DataFrame, disjoint: bool) -> np.ndarray:
    if not disjoint:
        return out
    kept = image_disjoint(out, trials.image_index.to_numpy())
    for side in ("val", "test"):
        if (out == side).any() and not (kept == side).any():
            raise InputError("split.image_disjoint", f"image_disjoint leaves no {side} samples: "
                             f"every {side} image is also shown on an earlier side")
    return kept


class GroupHoldoutSplit:
    """Hold out ``val_groups`` and ``test_groups`` random whole groups (counts or fractions)."""

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
        _check_groups(groups, needed, self.group_by)
        out = np.full(len(trials), "train", dtype=object)
        _, test = _holdout(groups, self.test_groups, self.seed)
        out[test] = "test"
        _hold_val(out, trials, self.group_by, self.val_groups, self.seed + 1)
        return _finish(out, trials, self.image_disjoint)

    def describe(self) -> dict[str, Any]:
        return {"kind": "group_holdout", "group_by": list(self.group_by),
                "val_groups": self.val_groups, "test_groups": self.test_groups,
                "seed": self.seed, "image_disjoint": self.image_disjoint}


class ExplicitHoldoutSplit:
    """Named sessions (``by=session``) or runs (``by=run``, ``[session, run]`` pairs) of one
    subject go to val and test; the rest of that subject trains, other subjects are excluded.
    ``subject=None``: the same sessions or runs of every subject (the multi-subject datamodule
    holds out the same sessions of each subject)."""

    def __init__(self, subject: int | None, by: str = "session",
                 val: Sequence[Any] = (), test: Sequence[Any] = (),
                 image_disjoint: bool = False) -> None:
        if by not in ("session", "run"):
            raise InputError("split.by", f"unknown {by!r}; valid: session, run")
        self.subject = None if subject is None else int(subject)
        self.by, self.image_disjoint = by, image_disjoint
        self.val, self.test = self._keys(val), self._keys(test)
        if not self.test:
            raise InputError("split.test", "name at least one held-out session or run")
        if set(self.val) & set(self.test):
            raise InputError("split", f"{sorted(set(self.val) & set(self.test))} is in val "
                                      "and test")

    def _keys(self, values: Sequence[Any]) -> list[tuple[int, ...]]:
        keys = [tuple(int(x) for x in np.atleast_1d(v)) for v in values]
        width = 1 if self.by == "session" else 2
        if any(len(k) != width for k in keys):
            want = "session numbers" if width == 1 else "[session, run] pairs"
            raise InputError(f"split.{self.by}", f"want {want}, got {list(values)}")
        return keys

    def assign(self, trials: pd.DataFrame) -> np.ndarray:
        cols = ["session"] if self.by == "session" else ["session", "run"]
        keys = list(map(tuple, trials[cols].astype(int).to_numpy()))
        subjects = trials.subject.to_numpy()
        mine = (np.ones(len(trials), bool) if self.subject is None
                else subjects == self.subject)
        for subject in ([self.subject] if self.subject is not None
                        else sorted(set(subjects.tolist()))):
            present = set(k for k, s in zip(keys, subjects) if s == subject)
            missing = [k for k in self.val + self.test if k not in present]
            if missing:
                raise InputError("split", f"subject {subject} has no {self.by}(s) {missing}")
        out = np.where(mine, "train", "excluded").astype(object)
        for side, chosen in (("val", self.val), ("test", self.test)):
            out[mine & np.array([k in set(chosen) for k in keys])] = side
        if not (out == "train").any():
            raise InputError("split", "nothing left to train on")
        return _finish(out, trials, self.image_disjoint)

    def describe(self) -> dict[str, Any]:
        return {"kind": "explicit_holdout", "subject": self.subject, "by": self.by,
                "val": self.val, "test": self.test, "image_disjoint": self.image_disjoint}


class GroupKFoldSplit:
    """Fold ``fold`` of a grouped K-fold (sklearn ``GroupKFold``): its groups are the test set,
    and ``val_groups`` random groups of the remaining ones are validation."""

    def __init__(self, n_splits: int = 5, fold: int = 0,
                 group_by: Sequence[str] = ("subject", "session"),
                 val_groups: int | float = 1, seed: int = 0,
                 image_disjoint: bool = False) -> None:
        if not 0 <= fold < n_splits:
            raise InputError("split.fold", f"fold {fold} is outside 0..{n_splits - 1}")
        self.n_splits, self.fold, self.group_by = n_splits, fold, tuple(group_by)
        self.val_groups, self.seed, self.image_disjoint = val_groups, seed, image_disjoint

    def assign(self, trials: pd.DataFrame) -> np.ndarray:
        groups = group_keys(trials, self.group_by)
        _check_groups(groups, self.n_splits - 1, self.group_by)
        from sklearn.model_selection import GroupKFold  # late: module docstring

        folds = GroupKFold(n_splits=self.n_splits).split(np.zeros(len(groups)), groups=groups)
        _, test = list(folds)[self.fold]
        out = np.full(len(trials), "train", dtype=object)
        out[test] = "test"
        _hold_val(out, trials, self.group_by, self.val_groups, self.seed + self.fold)
        return _finish(out, trials, self.image_disjoint)

    def describe(self) -> dict[str, Any]:
        return {"kind": "group_kfold", "n_splits": self.n_splits, "fold": self.fold,
                "group_by": list(self.group_by), "val_groups": self.val_groups,
                "seed": self.seed, "image_disjoint": self.image_disjoint}


def iter_folds(split: GroupKFoldSplit) -> Iterator[GroupKFoldSplit]:
    """Every fold of a K-fold split, for cross-validation loops (same settings, fold 0..K-1)."""
    for fold in range(split.n_splits):
        yield GroupKFoldSplit(split.n_splits, fold, split.group_by, split.val_groups,
                              split.seed, split.image_disjoint)


class CrossSubjectSplit:
    """Train on ``train_subjects``, test on ``test_subjects``; val is ``val_groups`` whole groups
    (``val_group_by``, default sessions) of the training subjects. Other subjects: excluded."""

    def __init__(self, train_subjects: Sequence[int] = (1, 2, 3),
                 test_subjects: Sequence[int] = (4,), val_groups: int | float = 1,
                 val_group_by: Sequence[str] = ("subject", "session"), seed: int = 0,
                 image_disjoint: bool = False) -> None:
        self.train_subjects = [int(s) for s in train_subjects]
        self.test_subjects = [int(s) for s in test_subjects]
        if set(self.train_subjects) & set(self.test_subjects):
            raise InputError("split", "a subject cannot both train and test")
        self.val_groups, self.val_group_by = val_groups, tuple(val_group_by)
        self.seed, self.image_disjoint = seed, image_disjoint

    def assign(self, trials: pd.DataFrame) -> np.ndarray:
        subjects = trials.subject.to_numpy()
        missing = sorted(set(self.train_subjects + self.test_subjects) - set(subjects.tolist()))
        if missing:
            raise InputError("split", f"no samples of subject(s) {missing} in the file")
        out = np.full(len(trials), "excluded", dtype=object)
        out[np.isin(subjects, self.train_subjects)] = "train"
        out[np.isin(subjects, self.test_subjects)] = "test"
        _hold_val(out, trials, self.val_group_by, self.val_groups, self.seed)
        return _finish(out, trials, self.image_disjoint)

    def describe(self) -> dict[str, Any]:
        return {"kind": "cross_subject", "train_subjects": self.train_subjects,
                "test_subjects": self.test_subjects, "val_groups": self.val_groups,
                "val_group_by": list(self.val_group_by), "seed": self.seed,
                "image_disjoint": self.image_disjoint}


def check_split_keeps_groups(attrs: dict[str, Any], trials: pd.DataFrame,
                             assignment: np.ndarray, path: str) -> None:
    """Refuse a split that cuts a group the source normalised within.

    Why: a source that z-scores within a session (``betas``, ``roi_betas``) gives every row of a
    session the statistics of all that session's rows. If some of those rows are validation or
    test rows, training rows carry held-out statistics. Splits that keep sessions whole
    (``holdout_sessions``, ``kfold_sessions``, ``cross_subject``) are leak-free; others are
    refused here rather than silently reshaped, so the split a run reports is the one it used.
    """
    source = attrs.get("source")
    if not isinstance(source, dict):  # files written by other tools name their source only
        return
    within = source.get("normalized_within") or (  # files prepared before the attribute
        "session" if source.get("zscore") == "per voxel within session" else None)
    if not within:
        return
    keys = trials["subject"].astype(str) + "/" + trials[within].astype(str)
    used = assignment != "excluded"
    sides = pd.DataFrame({"key": keys[used], "side": assignment[used]})
    cut = int((sides.groupby("key").side.nunique() > 1).sum())
    if cut:
        raise InputError(path, f"rows are z-scored within each {within} but the split puts "
                               f"{cut} {within}(s) on more than one side (held-out statistics "
                               f"in training rows); use data/split=holdout_sessions or "
                               f"kfold_sessions, or prepare with source.reader.zscore=false")
