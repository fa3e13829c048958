"""The experimental design of a synthetic subject: which image each trial shows, in which run.

Why a module of its own: the design (sessions, runs, trials, unique and repeated images) is what
a preset such as ``spec=bold5000`` promises, and it must be checkable without generating a
single volume. The generators draw their presentation order here, at the same point of their
random stream as before, so the default datasets are unchanged.

Two repeat designs:

- ``repeated_images = 0`` (the default presets): every image once, then repeats of images drawn
  at random fill the remaining trials (BOLD5000's ``rep_`` trials, without a fixed count).
- ``repeated_images = R > 0``: BOLD5000's published design. R images are shown
  ``repeat_presentations`` times, every other image once; when that makes more presentations
  than trials (BOLD5000: 4,916 + 113 x 3 = 5,255 for 5,254 trials), the last presentation of
  as many repeated images as needed is dropped (CSI1's list: 112 images 4 times, 1 image 3
  times). The presentations are then shuffled, so repeats fall in any session.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bold5000_ae.utils.errors import InputError


def runs_per_session(spec: object) -> list[int]:
    """The number of runs in each session: one count for all, or one per session."""
    runs = spec.runs_per_session
    if isinstance(runs, int | np.integer):
        return [int(runs)] * int(spec.sessions)
    return [int(r) for r in runs]


def run_layout(spec: object) -> list[tuple[int, int]]:
    """(session, run) of every run of one subject, in acquisition order (1-based)."""
    return [(ses, run) for ses, n in enumerate(runs_per_session(spec), start=1)
            for run in range(1, n + 1)]


def n_trials(spec: object) -> int:
    """Trials per subject: runs times trials per run."""
    return len(run_layout(spec)) * int(spec.trials_per_run)


def check_design(spec: object) -> None:
    """One line naming the field when the runs or the repeat design cannot be laid out."""
    runs = spec.runs_per_session
    if not isinstance(runs, int | np.integer):
        if len(runs) != int(spec.sessions) or any(int(r) < 1 for r in runs):
            raise InputError("spec.runs_per_session", f"need one count >= 1 per session "
                             f"({spec.sessions}), got {list(runs)}")
    repeated = int(getattr(spec, "repeated_images", 0))
    if repeated == 0:
        return
    shown = int(getattr(spec, "repeat_presentations", 1))
    unique, trials = int(spec.unique_images), n_trials(spec)
    total = unique + repeated * (shown - 1)
    if repeated < 0 or repeated > unique or shown < 2:
        raise InputError("spec.repeated_images", f"need 0 <= repeated_images <= unique_images "
                         f"({unique}) and repeat_presentations >= 2, got {repeated} and {shown}")
    if not total - repeated < trials <= total:
        raise InputError("spec.repeated_images", f"{unique} images with {repeated} shown "
                         f"{shown} times make {total} presentations; {trials} trials need "
                         f"between {total - repeated + 1} and {total}")


def presentation_order(rng: np.random.Generator, spec: object) -> np.ndarray:
    """The image index shown at each trial of one subject, in trial order."""
    trials = n_trials(spec)
    repeated = int(getattr(spec, "repeated_images", 0))
    if repeated == 0:
        return fill_order(rng, int(spec.unique_images), trials)
    unique, shown = int(spec.unique_images), int(spec.repeat_presentations)
    chosen = rng.choice(unique, size=repeated, replace=False)
    drop = unique + repeated * (shown - 1) - trials  # images that lose their last showing
    extra = [np.repeat(chosen[:drop], shown - 2), np.repeat(chosen[drop:], shown - 1)]
    return rng.permutation(np.concatenate([np.arange(unique), *extra])).astype(int)


def fill_order(rng: np.random.Generator, n_images: int, n_trials: int) -> np.ndarray:
    """Every image once, then repeats (as BOLD5000's ``rep_`` trials) to fill the trials."""
    first = rng.permutation(n_images)[: min(n_images, n_trials)]
    extra = rng.choice(first, size=max(0, n_trials - len(first)), replace=False
                       if n_trials - len(first) <= len(first) else True)
    order = np.concatenate([first, extra])
    cut = len(first) // 2
    head, tail = order[:cut], rng.permutation(order[cut:])
    return np.concatenate([head, tail]).astype(int)


def presented_names(order: Sequence[int], names: Sequence[str]) -> list[str]:
    """Stimulus-list names: ``rep_`` before every presentation after an image's first."""
    seen: set[int] = set()
    out = []
    for j in order:
        out.append(("rep_" if j in seen else "") + names[j])
        seen.add(int(j))
    return out


def trial_layout(spec: object, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """One row per trial of one subject: session, run, trial (1-based), image, presentation
    (1 for an image's first showing). ``rng``: the generator's stream at the point it draws the
    order; by default a fresh one from the spec's seed (the counts do not depend on it)."""
    rng = np.random.default_rng(spec.seed) if rng is None else rng
    order = presentation_order(rng, spec)
    per_run = int(spec.trials_per_run)
    runs = np.repeat(np.array(run_layout(spec)), per_run, axis=0)
    table = pd.DataFrame({"session": runs[:, 0], "run": runs[:, 1],
                          "trial": np.tile(np.arange(1, per_run + 1), len(runs) // per_run),
                          "image": order})
    table["presentation"] = table.groupby("image").cumcount() + 1
    return table
