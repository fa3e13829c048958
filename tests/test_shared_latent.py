"""The multi-subject datamodule and the shared-latent model on planted data.

Each tiny subject file holds a planted linear code: x_s = z W_s + noise, with a 3-dimensional
code z per image (all subjects see the same 80 images, each in its own order), a
subject-specific random W_s (different voxel counts) and noise of
variance 0.25 against a signal of variance ~1 per voxel, so no reconstruction can beat
R² = 1 / 1.25 = 0.8 and a shared 3-dimensional code explains everything else.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from bold5000_ae.cli.train import train
from bold5000_ae.data.hdf5_format import PreparedData, write_prepared
from bold5000_ae.data.multi_subject import MultiSubjectDataModule
from bold5000_ae.data.splits import ExplicitHoldoutSplit
from bold5000_ae.losses.mse import MaskedMSE
from bold5000_ae.models.components.mlp import MLPAutoencoderNet
from bold5000_ae.models.shared_latent import SharedLatentModule
from bold5000_ae.utils.errors import InputError
from tests.helpers.hydra import compose_config

VOXELS = {1: 30, 2: 40, 3: 50, 4: 35}
SESSIONS, RUNS, TRIALS, CODE, IMAGES = 4, 2, 20, 3, 80
NOISE_SD = 0.5


def _subject_file(path: Path, subject: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = SESSIONS * RUNS * TRIALS
    # every subject sees the same images (one code each) in its own order
    image = np.random.default_rng(100 + subject).permutation(n) % IMAGES
    z = np.random.default_rng(7).standard_normal((IMAGES, CODE))[image]
    w = np.random.default_rng(subject).standard_normal((CODE, VOXELS[subject])) / np.sqrt(CODE)
    bold = 50 + z @ w + NOISE_SD * rng.standard_normal((n, VOXELS[subject]))
    trials = pd.DataFrame({
        "image_index": image, "label": (z[:, 0] > 0).astype(int), "subject": subject,
        "session": 1 + np.arange(n) // (RUNS * TRIALS), "run": 1 + (np.arange(n) // TRIALS) % RUNS,
        "trial": 1 + np.arange(n) % TRIALS, "offset_s": 4.0, "repeat_index": 0})
    mask = np.zeros((60, 1, 1), bool)
    mask[:VOXELS[subject]] = True
    write_prepared(path, PreparedData(
        bold=bold.astype(np.float32), mask=mask, affine=np.eye(4), trials=trials,
        images=np.zeros((IMAGES, 4, 4, 3), np.uint8),
        image_names=[f"{i}.jpg" for i in range(IMAGES)], image_present=np.ones(IMAGES, bool)))
    return path


@pytest.fixture(scope="module")
def subject_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("multi")
    return [_subject_file(root / f"sub-{s}.h5", s) for s in VOXELS]


def _data(files: list[Path], **kwargs) -> MultiSubjectDataModule:
    split = ExplicitHoldoutSplit(subject=None, by="session", val=[], test=[4])
    dm = MultiSubjectDataModule(files, split=split, batch_size=16, **kwargs)
    dm.setup()
    return dm


def test_batches_hold_one_subject_each_split_by_session_normalised_on_train(
        subject_files: list[Path]) -> None:
    dm = _data(subject_files)
    assert dm.n_voxels == VOXELS
    seen = set()
    for batch in dm.train_dataloader():
        subjects = batch["subject"].unique().tolist()
        assert len(subjects) == 1 and batch["bold"].shape[1] == VOXELS[subjects[0]]
        assert set(batch["session"].tolist()) <= {1, 2, 3}
        seen.add(subjects[0])
    assert seen == set(VOXELS)
    for sub in dm.data.values():
        # training rows are centred and scaled per voxel; the held-out session is not refitted
        assert np.abs(sub.bold["train"].mean(0)).max() < 1e-4
        assert np.allclose(sub.bold["train"].std(0), 1, atol=1e-3)
        assert set(sub.trials.session.to_numpy()[sub.rows("test")]) == {4}
    table = dm.split_table()
    assert set(table[table.split == "test"].session) == {4}


def test_train_sessions_keeps_the_first_k_training_sessions(subject_files: list[Path]) -> None:
    dm = _data(subject_files, subjects=[4], train_sessions=1)
    assert dm.subjects == [4]
    sub = dm.data[4]
    assert set(sub.trials.session.to_numpy()[sub.rows("train")]) == {1}
    assert len(sub.bold["train"]) == RUNS * TRIALS
    with pytest.raises(InputError, match="train_sessions"):
        _data(subject_files, train_sessions=4)


def test_a_file_with_two_subjects_is_refused(subject_files: list[Path], tmp_path: Path) -> None:
    from bold5000_ae.data.hdf5_format import read_prepared

    data = read_prepared(subject_files[0])
    data.trials.loc[: len(data.trials) // 2, "subject"] = 9
    write_prepared(tmp_path / "two.h5", data)
    with pytest.raises(InputError, match="one subject per file"):
        _data([tmp_path / "two.h5"])


def _module(voxels: dict[int, int]) -> SharedLatentModule:
    def core(n_voxels: int) -> MLPAutoencoderNet:
        return MLPAutoencoderNet(n_voxels, hidden=[32], latent_dim=CODE + 1, norm="batch")

    return SharedLatentModule(core, voxels, MaskedMSE(),
                              lambda params: torch.optim.Adam(params, lr=3e-3), width=32)


def _fit(module: SharedLatentModule, dm: MultiSubjectDataModule, epochs: int) -> None:
    L.seed_everything(0, workers=True)
    L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
              enable_progress_bar=False, enable_model_summary=False,
              num_sanity_val_steps=0, limit_val_batches=0).fit(module, dm)


def _test_r2(module: SharedLatentModule, dm: MultiSubjectDataModule, subject: int) -> float:
    module.eval()
    x = torch.from_numpy(dm.data[subject].bold["test"])
    with torch.no_grad():
        err = ((module(x, subject) - x) ** 2).sum().item()
    return 1 - err / (x ** 2).sum().item()


def test_shared_model_trains_and_a_new_subject_adapter_fits_with_the_shared_part_frozen(
        subject_files: list[Path]) -> None:
    torch.manual_seed(0)
    pool = _data(subject_files, subjects=[1, 2, 3])
    module = _module(pool.n_voxels)
    before = [_test_r2(module, pool, s) for s in pool.subjects]
    _fit(module, pool, epochs=40)
    after = [_test_r2(module, pool, s) for s in pool.subjects]
    # untrained: no better than the training mean; trained: most of the 0.8 ceiling
    assert max(before) < 0.1 and min(after) > 0.6, (before, after)

    shared = {k: v.clone() for k, v in module.state_dict().items()}
    new = _data(subject_files, subjects=[4], train_sessions=1)
    module.adapt_to(4, new.n_voxels[4])
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    assert trainable == {"adapters.inputs.4.weight", "adapters.inputs.4.bias",
                         "adapters.outputs.4.weight", "adapters.outputs.4.bias"}
    fresh = _test_r2(module, new, 4)
    module.train()  # what a trainer does: the shared network must stay in eval mode
    assert not module.core.training
    _fit(module, new, epochs=60)
    adapted = _test_r2(module, new, 4)
    # one session (40 trials, 40 of the 80 images) is enough for two linear maps into a space
    # that already exists: well above the fresh adapters, most of the 0.8 bound
    assert fresh < 0.1 and adapted > 0.5, (fresh, adapted)
    for name, value in module.state_dict().items():
        if ".4." not in name:  # shared network (BatchNorm statistics included) and old adapters
            assert torch.equal(value, shared[name]), name


def test_srm_baseline_aligns_subjects_by_image_across_voxel_counts(
        subject_files: list[Path]) -> None:
    """The few-shot script's shared response model (fastsrm on each subject's own PCA, samples
    aligned by image) recovers the planted 3-dimensional code of a new subject from one session;
    PCA-3 of that session alone is the reference."""
    from experiments.few_shot import methods

    pool = _data(subject_files, subjects=[1, 2, 3])
    new = _data(subject_files, subjects=[4], train_sessions=1).data[4]
    x = new.bold["test"].astype(np.float64)

    def r2(fitted: methods.Fitted) -> float:
        return 1 - ((fitted.reconstruct(x) - x) ** 2).sum() / (x ** 2).sum()

    srm = methods.srm([pool.data[s] for s in pool.subjects], new, k=CODE, d=10, seed=0)
    assert srm.encode(x).shape == (len(x), CODE)
    assert r2(srm) > 0.6  # of the 0.8 bound
    assert r2(methods.pca(new.bold["train"], CODE)) > 0.6


def test_training_reports_pca_k_per_subject_and_pooled_beside_the_model(
        subject_files: list[Path], tmp_path: Path) -> None:
    """A multi-subject run stands beside the same references as any run: each fitted on one
    subject's own training rows and voxels, scored on its test session, pooled like the
    model's own R²."""
    paths = ",".join(str(p) for p in subject_files)
    cfg = compose_config("train", [
        "experiment=shared_latent", f"data.path=[{paths}]", "data.split.val=[3]",
        "data.split.test=[4]", "trainer=cpu", "trainer.max_epochs=2", "logger=csv",
        "callbacks=none", "trainer.enable_progress_bar=false"], tmp_path)
    metrics = train(cfg)
    per_subject = [metrics[f"baseline/pca_k/test/r2_subject_{s}"] for s in VOXELS]
    # planted rank-CODE data: PCA with the shared latent's 32 components explains most of it
    assert min(per_subject) > 0.5
    assert min(per_subject) <= metrics["baseline/pca_k/test/r2"] <= max(per_subject)
    assert abs(metrics["baseline/train_mean/test/r2"]) < 0.05  # ~0 up to train/test drift
    assert metrics["test/r2_minus_pca_k"] == pytest.approx(
        metrics["test/r2"] - metrics["baseline/pca_k/test/r2"])
