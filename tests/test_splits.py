"""Splits: no trial's volumes, no run, and (image_disjoint) no image on two sides."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from bold5000_ae.data.splits import (
    CrossSubjectSplit,
    ExplicitHoldoutSplit,
    GroupHoldoutSplit,
    GroupKFoldSplit,
    iter_folds,
)
from bold5000_ae.utils.errors import InputError

SIDES = ("train", "val", "test")


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    """4 subjects x 5 sessions x 2 runs x 6 trials x 3 volumes; some images repeated."""
    rows = [dict(subject=s, session=ses, run=r, trial=t, offset_s=o)
            for s, ses, r, t, o in itertools.product(range(1, 5), range(1, 6), (1, 2),
                                                      range(1, 7), (4.0, 6.0, 8.0))]
    table = pd.DataFrame(rows)
    trial_id = table.groupby(["subject", "session", "run", "trial"]).ngroup().to_numpy()
    # every third trial shows one of 40 shared images (repeated across runs and subjects)
    table["image_index"] = np.where(table.trial % 3 == 0, (trial_id * 7) % 40, 100 + trial_id)
    return table


def _groups_on_one_side(trials: pd.DataFrame, out: np.ndarray, cols: list[str]) -> None:
    used = out != "excluded"  # image_disjoint may drop part of a group; that is no leak
    sides = pd.Series(out[used]).groupby([trials[c].to_numpy()[used] for c in cols]).nunique()
    assert (sides == 1).all(), f"a {'/'.join(cols)} group straddles sides"


def _check_no_leak(trials: pd.DataFrame, out: np.ndarray, disjoint: bool) -> None:
    assert set(out) <= {*SIDES, "excluded"}
    _groups_on_one_side(trials, out, ["subject", "session", "run", "trial"])
    _groups_on_one_side(trials, out, ["subject", "session", "run"])
    if disjoint:
        images = {s: set(trials.image_index[out == s]) for s in SIDES}
        for a, b in itertools.combinations(SIDES, 2):
            assert not images[a] & images[b], f"an image is in {a} and {b}"


SPLITS = {
    "runs": lambda d: GroupHoldoutSplit(image_disjoint=d),
    "sessions": lambda d: GroupHoldoutSplit(group_by=["subject", "session"], image_disjoint=d),
    "explicit_sessions": lambda d: ExplicitHoldoutSplit(1, "session", [4], [5],
                                                        image_disjoint=d),
    "explicit_runs": lambda d: ExplicitHoldoutSplit(2, "run", [[1, 2]], [[3, 1], [3, 2]],
                                                    image_disjoint=d),
    "kfold": lambda d: GroupKFoldSplit(n_splits=5, fold=2, image_disjoint=d),
    "cross_subject": lambda d: CrossSubjectSplit([1, 2, 3], [4], image_disjoint=d),
}


@pytest.mark.parametrize("disjoint", [False, True])
@pytest.mark.parametrize("name", sorted(SPLITS))
def test_every_split_keeps_groups_and_images_apart(trials: pd.DataFrame, name: str,
                                                   disjoint: bool) -> None:
    split = SPLITS[name](disjoint)
    out = split.assign(trials)
    _check_no_leak(trials, out, disjoint)
    assert all((out == s).any() for s in SIDES), name
    assert split.describe()["image_disjoint"] is disjoint
    np.testing.assert_array_equal(out, split.assign(trials))  # deterministic


def test_images_are_shared_without_image_disjoint(trials: pd.DataFrame) -> None:
    out = CrossSubjectSplit([1, 2, 3], [4]).assign(trials)
    assert set(trials.image_index[out == "train"]) & set(trials.image_index[out == "test"])


def test_explicit_holdout_sides(trials: pd.DataFrame) -> None:
    out = ExplicitHoldoutSplit(1, "session", val=[4], test=[5]).assign(trials)
    by_session = pd.Series(out)[trials.subject.to_numpy() == 1].groupby(
        trials.session[trials.subject == 1].to_numpy()).first()
    assert by_session.tolist() == ["train", "train", "train", "val", "test"]
    assert (out[trials.subject.to_numpy() != 1] == "excluded").all()
    with pytest.raises(InputError, match=r"subject 1 has no session\(s\) \[\(9,\)\]"):
        ExplicitHoldoutSplit(1, "session", test=[9]).assign(trials)


def test_kfold_folds_partition_the_sessions(trials: pd.DataFrame) -> None:
    base = GroupKFoldSplit(n_splits=4, group_by=["subject", "session"])
    tested = []
    for split in iter_folds(base):
        out = split.assign(trials)
        groups = trials[out == "test"][["subject", "session"]].drop_duplicates()
        tested += list(map(tuple, groups.to_numpy()))
        assert len(trials[out == "val"][["subject", "session"]].drop_duplicates()) == 1
    assert len(tested) == len(set(tested)) == 20  # every session tested exactly once
    with pytest.raises(InputError, match="fold 4 is outside 0..3"):
        GroupKFoldSplit(n_splits=4, fold=4)


def test_cross_subject_validation_from_training_subjects(trials: pd.DataFrame) -> None:
    out = CrossSubjectSplit([1, 2], [4], val_groups=2).assign(trials)
    subj = trials.subject.to_numpy()
    assert set(subj[out == "test"]) == {4} and set(subj[out == "val"]) <= {1, 2}
    assert (out[subj == 3] == "excluded").all()
    assert len(trials[out == "val"][["subject", "session"]].drop_duplicates()) == 2
    with pytest.raises(InputError, match=r"no samples of subject\(s\) \[7\]"):
        CrossSubjectSplit([1], [7]).assign(trials)


def test_image_disjoint_that_empties_a_side_is_an_error(trials: pd.DataFrame) -> None:
    shared = trials.assign(image_index=trials.trial % 2)
    with pytest.raises(InputError, match="image_disjoint leaves no (val|test) samples"):
        GroupHoldoutSplit(image_disjoint=True).assign(shared)


def test_too_few_groups_is_an_input_error(trials: pd.DataFrame) -> None:
    one_run = trials[(trials.subject == 1) & (trials.session == 1)]
    with pytest.raises(InputError, match="2 groups by subject/session/run cannot give 2"):
        GroupHoldoutSplit().assign(one_run)


@pytest.mark.parametrize("name", ["holdout_runs", "holdout_sessions", "explicit",
                                  "kfold_sessions", "cross_subject"])
def test_split_configs_build_their_split(name: str) -> None:
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from bold5000_ae.utils.config import CONFIG_DIR

    split = instantiate(OmegaConf.load(f"{CONFIG_DIR}/data/split/{name}.yaml"))
    assert hasattr(split, "assign") and split.describe()["image_disjoint"] is False
