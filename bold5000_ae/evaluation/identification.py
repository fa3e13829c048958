"""Identification at the level of trials and images, with the baselines that make it readable.
One definition of 2-way and n-way identification: the reconstruction metrics (``metrics.py``)
call the same functions with every other sample as an allowed distractor.

Why: a trial's volumes share one image, so an image→latent model gives them one prediction. If a
same-trial (or same-image) sample may serve as a distractor, the prediction "matches" it as well
as its own target, and the measured accuracy is capped far below 1 (50-way near 0.42 on the
built-in data) while it is read against chance 1/n. Here a sample's distractors never share its
image (``images``), so the ideal image-driven predictor can reach 1 and chance is exactly 1/n.

Both sides are compared **centred**: the training mean of the targets (``center``) is removed
from predictions and targets first. Why: a latent can be mostly its training mean (the cosine
of every latent with it near 1), and raw cosines are then dominated by what every sample shares.

Reference predictors, scored the same way on the same test rows (they use test targets, so they
are references, not competitors), each leaving the scored trial out (``leave_trial_out_mean``):

- ``image_mean``: each sample predicted by the mean target of the *other* trials showing its
  image — the best an image-only model can do without seeing the scored trial's own noise.
  Samples whose image has no other presentation among the test rows have no prediction (NaN):
  they are left out of its scores (``n_defined`` says how many remain; none: NaN);
- ``category_mean``: the mean target of its category's test samples (living or not) — what a
  model that knows only the category scores; identification above chance comes free. Not left
  out here: a leave-one-out category mean contains every same-category distractor but not the
  sample's own target, which biases it below chance; one shared mean per category has only the
  sample's 1/n share of itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional import pairwise_cosine_similarity


def similarity_matrix(pred: torch.Tensor, target: torch.Tensor,
                      kind: str = "pearson") -> torch.Tensor:
    """(N, N) similarity of every prediction (rows) to every target (columns)."""
    if kind == "pearson":
        pred = pred - pred.mean(dim=1, keepdim=True)
        target = target - target.mean(dim=1, keepdim=True)
    elif kind != "cosine":
        raise ValueError(f"kind must be 'pearson' or 'cosine', got {kind!r}")
    return pairwise_cosine_similarity(pred.float(), target.float())


def distinct_image_pairs(images: torch.Tensor) -> torch.Tensor:
    """(N, N) bool: j may be a distractor for i (different image; never i itself)."""
    images = images.reshape(-1)
    return images.unsqueeze(0) != images.unsqueeze(1)


def pairwise_identification(similarity: torch.Tensor,
                            allowed: torch.Tensor | None = None) -> torch.Tensor:
    """Fraction of allowed (i, j) pairs where prediction i is more similar to its own target
    than to target j (chance 0.5); ``allowed`` defaults to every j ≠ i."""
    n = similarity.shape[0]
    if allowed is None:
        allowed = ~torch.eye(n, dtype=torch.bool, device=similarity.device)
    if not allowed.any():
        return torch.tensor(float("nan"))
    wins = similarity.diagonal().unsqueeze(1) > similarity
    return (wins & allowed).sum().float() / allowed.sum()


def n_way_identification(similarity: torch.Tensor, n_way: int,
                         allowed: torch.Tensor | None = None, trials: int = 20,
                         seed: int = 0) -> torch.Tensor:
    """For each prediction, ``n_way − 1`` distractors drawn from its allowed targets
    (``trials`` times); a hit when its own target is the most similar. Chance is 1 / n_way.
    Samples with fewer than ``n_way − 1`` allowed distractors are skipped."""
    n = similarity.shape[0]
    sim = similarity.detach().cpu().numpy()
    ok = (~np.eye(n, dtype=bool) if allowed is None else allowed.cpu().numpy())
    rng = np.random.default_rng(seed)
    hits = []
    for i in range(n):
        others = np.flatnonzero(ok[i])
        if len(others) < n_way - 1:
            continue
        for _ in range(trials):
            distractors = rng.choice(others, size=n_way - 1, replace=False)
            hits.append(sim[i, i] > sim[i, distractors].max())
    return torch.tensor(float(np.mean(hits)) if hits else float("nan"))


def group_mean(x: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Each row replaced by the mean of the rows of its group."""
    _, inverse = torch.unique(groups.reshape(-1), return_inverse=True)
    sums = torch.zeros(int(inverse.max()) + 1, x.shape[1], dtype=x.dtype).index_add_(0, inverse, x)
    counts = torch.bincount(inverse).to(x.dtype).unsqueeze(1)
    return (sums / counts)[inverse]


def leave_trial_out_mean(x: torch.Tensor, groups: torch.Tensor,
                         trials: torch.Tensor) -> torch.Tensor:
    """Each row replaced by the mean of the rows of its group from other trials (its own
    trial's rows left out); NaN where there are none."""
    _, g = torch.unique(groups.reshape(-1), return_inverse=True)
    _, t = torch.unique(torch.stack([groups.reshape(-1).to(trials.dtype),
                                     *trials.reshape(len(x), -1).T], 1), dim=0,
                        return_inverse=True)
    x = x.double()
    g_sum = torch.zeros(int(g.max()) + 1, x.shape[1], dtype=x.dtype).index_add_(0, g, x)
    t_sum = torch.zeros(int(t.max()) + 1, x.shape[1], dtype=x.dtype).index_add_(0, t, x)
    count = (torch.bincount(g)[g] - torch.bincount(t)[t]).to(x.dtype).unsqueeze(1)
    mean = (g_sum[g] - t_sum[t]) / count.clamp_min(1)
    return torch.where(count > 0, mean, torch.full_like(mean, float("nan"))).float()


def reference_predictions(true: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
                          trials: torch.Tensor) -> dict[str, torch.Tensor]:
    """The image-only prediction of ``true`` from other trials (``trials``: one id per row, or
    one row of ids per row) and the category-only one (see module doc)."""
    return {"image_mean": leave_trial_out_mean(true, images, trials),
            "category_mean": group_mean(true, labels)}


def identification_metrics(pred: torch.Tensor, true: torch.Tensor, images: torch.Tensor,
                           n_way: int, kind: str = "cosine",
                           center: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """2-way and n-way identification with same-image distractors excluded, plus chance, on
    targets and predictions with ``center`` (the targets' training mean) removed. Rows whose
    prediction is NaN predict nothing (they stay distractors); ``n_defined`` counts the rest."""
    if center is not None:
        pred, true = pred - center.to(pred), true - center.to(true)
    defined = ~torch.isnan(pred).any(dim=1)
    sim = similarity_matrix(torch.nan_to_num(pred), true, kind)
    allowed = distinct_image_pairs(images) & defined.unsqueeze(1)
    return {"identification_2way": pairwise_identification(sim, allowed),
            f"identification_{n_way}way": n_way_identification(sim, n_way, allowed),
            f"identification_{n_way}way_chance": torch.tensor(1.0 / n_way),
            "n_defined": defined.sum().float()}
