"""A LightningDataModule over several subjects, one prepared file each, on their own voxels.

Why apart from ``datamodule.py``: that module serves one voxel vector (the files' common mask),
which is what a conv net needs but not what a shared-latent model wants. Each subject here
keeps its own visual mask, so voxel counts differ and a batch cannot mix subjects: every batch
holds rows of one subject (``subject`` says which), and the order of batches across subjects is
shuffled each epoch.

Each subject is split on its own by the configured split (``splits.py``: whole sessions or runs,
e.g. ``ExplicitHoldoutSplit(subject=None, test=[5, 6])`` holds out the same sessions of every
subject), and normalised with its own training rows. ``train_sessions`` keeps the first k
training sessions of each subject (the few-shot budget); the rest become ``excluded``, so they
neither train nor enter the statistics. Data is small per subject (hundreds of rows by about a
thousand voxels), so every split is held in RAM, normalised, as float32.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningDataModule

from bold5000_ae.data.prepared_set import PreparedSet, resolve_paths
from bold5000_ae.data.splits import (
    SPLIT_NAMES,
    GroupHoldoutSplit,
    Split,
    check_split_keeps_groups,
)
from bold5000_ae.utils.errors import InputError

META = ("label", "session", "run", "trial", "image_index")


@dataclass
class SubjectData:
    """One subject's file: its rows, split, statistics and normalised split arrays."""

    subject: int
    path: Path
    trials: pd.DataFrame
    mask: np.ndarray
    assignment: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    image_names: list[str] = field(default_factory=list)  # what trials.image_index indexes
    bold: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (n, V) float32

    @property
    def n_voxels(self) -> int:
        return int(self.mask.sum())

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.assignment == split)


def keep_first_sessions(assignment: np.ndarray, trials: pd.DataFrame, k: int) -> np.ndarray:
    """Training rows of the first ``k`` training sessions (by number) kept, the rest excluded."""
    train = assignment == "train"
    sessions = sorted(set(trials.session.to_numpy()[train].tolist()))
    if k < 1 or k > len(sessions):
        raise InputError("data.train_sessions", f"{k} asked, the split leaves {len(sessions)} "
                                                "training session(s)")
    out = assignment.copy()
    out[train & ~np.isin(trials.session.to_numpy(), sessions[:k])] = "excluded"
    return out


def load_subject(path: Path, split: Split, train_sessions: int | None,
                 normalize: str) -> SubjectData:
    """Read, split and normalise one subject's prepared file (one subject per file)."""
    files = PreparedSet(path)
    trials = files.trials.reset_index(drop=True)
    subjects = sorted(set(trials.subject.astype(int).tolist()))
    if len(subjects) != 1:
        raise InputError(path, f"holds subjects {subjects}; the multi-subject data wants one "
                               "subject per file (prepare with source.reader.subjects=[n])")
    assignment = split.assign(trials)
    check_split_keeps_groups(files.attrs, trials, assignment, str(path))
    if train_sessions is not None:
        assignment = keep_first_sessions(assignment, trials, train_sessions)
    if not (assignment == "train").any():
        raise InputError(path, "the split leaves no training samples")
    data = files.read(np.arange(len(trials)), np.float64)
    files.close()
    train = data[assignment == "train"]
    if normalize == "none":
        mean, std = np.zeros(data.shape[1]), np.ones(data.shape[1])
    else:
        mean = train.mean(0)
        std = train.std(0) if normalize == "voxel" else np.ones(data.shape[1])
        std = np.where(std > 1e-6, std, 1.0)
    out = SubjectData(subjects[0], path, trials, files.mask, assignment,
                      mean.astype(np.float32), std.astype(np.float32), files.image_names)
    for name in SPLIT_NAMES:
        out.bold[name] = ((data[assignment == name] - mean) / std).astype(np.float32)
    return out


class SubjectBatches:
    """Batches of one subject at a time over every subject's rows of one split.

    Each batch is ``{"bold": (B, V_s), "subject": (B,), "index": (B,), label, session, ...}``
    (``index`` the row in the subject's file). Shuffled: rows within each subject and the order
    of all batches across subjects, drawn from ``seed`` + epoch."""

    def __init__(self, subjects: Sequence[SubjectData], split: str, batch_size: int,
                 shuffle: bool, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.subjects, self.split = list(subjects), split
        self.batch_size, self.shuffle, self.seed, self.epoch = batch_size, shuffle, seed, 0

    def _plan(self, rng: np.random.Generator | None) -> list[tuple[int, np.ndarray]]:
        plan = []
        for i, sub in enumerate(self.subjects):
            n = len(sub.bold[self.split])
            order = rng.permutation(n) if rng is not None else np.arange(n)
            plan += [(i, order[a:a + self.batch_size]) for a in range(0, n, self.batch_size)]
        if rng is not None:
            plan = [plan[j] for j in rng.permutation(len(plan))]
        return plan

    def __len__(self) -> int:
        return len(self._plan(None))

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        rng = np.random.default_rng(self.seed + self.epoch) if self.shuffle else None
        self.epoch += 1
        for i, take in self._plan(rng):
            sub = self.subjects[i]
            rows = sub.rows(self.split)[take]
            batch = {"bold": torch.from_numpy(sub.bold[self.split][take]),
                     "subject": torch.full((len(take),), sub.subject, dtype=torch.long),
                     "index": torch.from_numpy(rows)}
            for key in META:
                batch[key] = torch.from_numpy(sub.trials[key].to_numpy()[rows])
            yield batch


class MultiSubjectDataModule(LightningDataModule):
    """Several subjects, one prepared file each (``path``: a list or a glob), on their own masks.

    ``split``: applied to each subject's rows on its own (default: one random run of each
    subject to val and one to test). ``subjects``: serve only these subject numbers (default:
    every file's). ``train_sessions``: keep each subject's first k training sessions.
    ``normalize``: ``voxel``, ``mean`` or ``none``, fitted on each subject's training rows."""

    def __init__(self, path: str | Path | Sequence[str | Path], split: Split | None = None,
                 subjects: Sequence[int] | None = None, train_sessions: int | None = None,
                 batch_size: int = 32, normalize: str = "voxel") -> None:
        super().__init__()
        if normalize not in ("voxel", "mean", "none"):
            raise InputError("data.normalize", f"unknown {normalize!r}; valid: voxel, mean, none")
        if not isinstance(path, str | Path):  # a ListConfig from Hydra: plain strings
            path = [str(p) for p in path]
        self.paths = resolve_paths(path)
        self.split = split if split is not None else GroupHoldoutSplit(group_by=("session", "run"))
        self.wanted = None if subjects is None else [int(s) for s in subjects]
        self.train_sessions, self.batch_size, self.normalize = train_sessions, batch_size, normalize
        self.data: dict[int, SubjectData] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.data:
            return
        for path in self.paths:
            sub = load_subject(path, self.split, self.train_sessions, self.normalize)
            if sub.subject in self.data:
                raise InputError(path, f"subject {sub.subject} is also in "
                                       f"{self.data[sub.subject].path}")
            if self.wanted is None or sub.subject in self.wanted:
                self.data[sub.subject] = sub
        missing = sorted(set(self.wanted or []) - set(self.data))
        if missing:
            raise InputError("data.subjects", f"no file holds subject(s) {missing}")

    @property
    def subjects(self) -> list[int]:
        return sorted(self.data)

    @property
    def n_voxels(self) -> dict[int, int]:
        """Each subject's voxel count: what the model's adapters are built for."""
        return {s: self.data[s].n_voxels for s in self.subjects}

    def _loader(self, name: str, shuffle: bool) -> SubjectBatches:
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        return SubjectBatches([self.data[s] for s in self.subjects], name, self.batch_size,
                              shuffle, seed)

    def train_dataloader(self) -> SubjectBatches:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> SubjectBatches:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> SubjectBatches:
        return self._loader("test", shuffle=False)

    def split_table(self) -> pd.DataFrame:
        """Which session and run of each subject went where."""
        tables = []
        for s in self.subjects:
            sub = self.data[s]
            table = sub.trials[["subject", "session", "run"]].copy()
            table["split"] = sub.assignment
            tables.append(table.drop_duplicates())
        return pd.concat(tables, ignore_index=True).sort_values(["subject", "session", "run"])
