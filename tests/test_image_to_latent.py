"""Phase 4 end to end on the tiny data: the AE is trained first, the BOLD net stays frozen
(bit-exact equal to the AE checkpoint after training), and the test reports latent cosine,
2-way and n-way identification and the decoded BOLD's R² beside the AE's own."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.evaluation.identification import (
    distinct_image_pairs,
    identification_metrics,
    n_way_identification,
    pairwise_identification,
    reference_predictions,
    similarity_matrix,
)
from bold5000_ae.training.checkpoint_io import load_state_dict

TINY_PHASE4 = ["experiment=phase4_image_to_latent", "model.bold_net.channels=[4,8]",
               "model.bold_net.latent_dim=8", "model.image_net.channels=[4,8]",
               "model.pretrain.max_epochs=2", "trainer.max_epochs=2", "model.n_way=4"]


def test_phase4_runs_end_to_end_with_a_frozen_bold_net(prepared_h5: Path, tmp_path: Path,
                                                       monkeypatch) -> None:
    from tests.helpers.hydra import TINY_TRAIN, compose_config

    base = [o for o in TINY_TRAIN if not o.startswith("model.net.")]
    cfg = compose_config("train", [f"data.path={prepared_h5}", *base, *TINY_PHASE4], tmp_path)
    captured = {}
    import bold5000_ae.models.build as build

    original = build.instantiate

    def keep(*args, **kwargs):
        module = original(*args, **kwargs)
        captured["module"] = module
        return module

    monkeypatch.setattr(build, "instantiate", keep)
    metrics = train(cfg)
    for key in ("test/cosine", "test/identification_2way", "test/identification_4way",
                "test/predicted_bold/r2", "test/autoencoded_bold/r2",
                "test/baseline/image_mean/identification_2way",
                "test/baseline/category_mean/identification_2way",
                "test/baseline/image_mean/predicted_bold/r2"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert -1 <= metrics["test/cosine"] <= 1
    assert 0 <= metrics["test/identification_2way"] <= 1
    ckpt = Path(cfg.paths.output_dir) / "pretrain" / "checkpoints" / "best.ckpt"
    ae = {k.removeprefix("net."): v for k, v in load_state_dict(ckpt).items()
          if k.startswith("net.")}
    bold_net = captured["module"].bold_net.state_dict()
    differ = [k for k in bold_net if not torch.equal(bold_net[k], ae[k])]
    assert not differ, differ[:5]


def test_identification_scores() -> None:
    perfect = torch.eye(6) + 0.01
    assert pairwise_identification(perfect).item() == 1.0
    assert n_way_identification(perfect, 5).item() == 1.0
    rng = np.random.default_rng(0)
    noise = torch.tensor(rng.standard_normal((200, 200)))
    assert pairwise_identification(noise).item() == pytest.approx(0.5, abs=0.03)
    assert n_way_identification(noise, 50, trials=5).item() == pytest.approx(1 / 50, abs=0.02)
    assert math.isnan(n_way_identification(perfect, 50).item())  # too few samples for 50-way


# 4 images × 3 presentations (a trial each); image i's samples all have target e_i (one-hot), so
# a sibling sample ties with a sample's own target. Images 0, 1 living; 2, 3 not.
IMAGES = torch.arange(4).repeat_interleave(3)
LABELS = (IMAGES < 2).long()
TRUE = torch.eye(4)[IMAGES]
TRIALS = torch.arange(12)


def test_the_ideal_predictor_scores_one_once_same_image_distractors_are_excluded() -> None:
    ideal = reference_predictions(TRUE, IMAGES, LABELS, TRIALS)["image_mean"]
    assert torch.equal(ideal, TRUE)  # the image's other two trials: the same target
    sim = similarity_matrix(ideal, TRUE, "cosine")
    # with siblings as distractors: 9 of a sample's 11 others are beaten, the 2 siblings tie
    assert pairwise_identification(sim).item() == pytest.approx(9 / 11)
    # 4-way: a hit needs 3 distractors from the 9 other-image samples: C(9,3)/C(11,3)
    assert n_way_identification(sim, 4, trials=200).item() == pytest.approx(84 / 165, abs=0.04)
    scores = identification_metrics(ideal, TRUE, IMAGES, n_way=4)
    assert scores["identification_2way"].item() == 1.0
    assert scores["identification_4way"].item() == 1.0
    assert scores["identification_4way_chance"].item() == 0.25


def test_a_category_only_predictor_beats_chance_by_construction() -> None:
    category = reference_predictions(TRUE, IMAGES, LABELS, TRIALS)["category_mean"]
    scores = identification_metrics(category, TRUE, IMAGES, n_way=4)
    # a living sample's prediction (e0+e1)/2 ties with the other living image's target and
    # beats the 6 non-living targets: 6 of its 9 allowed distractors
    assert scores["identification_2way"].item() == pytest.approx(6 / 9)
    assert not distinct_image_pairs(IMAGES)[0, :3].any()
