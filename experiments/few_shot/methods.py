"""The four ways to represent a new subject from k of its sessions, behind one interface.

Each method is fitted on the new subject's k training sessions (and, for the shared model and
the shared response model, on the other subjects' training sessions) and returns a ``Fitted``:
``encode(x)`` the latent of normalised rows of the new subject, ``reconstruct(x)`` the rows
rebuilt through that latent. Nothing here sees the new subject's test sessions.

- ``shared``: the shared-latent model trained on the other subjects, then only the new
  subject's adapters fitted (``SharedLatentModule.adapt_to``);
- ``alone``: the same architecture trained from scratch on the new subject's k sessions;
- ``srm``: the shared response model (fastsrm's ``IdentifiableFastSRM``) fitted on the other
  subjects, the new subject's basis added from its k sessions (``add_subjects``). SRM needs
  samples aligned across subjects; subjects here see the same images in different orders, so a
  sample is an (image, volume offset) pair, each subject's rows averaged per pair, and a
  subject's basis is fitted on the pairs it shares with the group. fastsrm also wants one voxel
  count, so each subject is first reduced by its own PCA-d (its training rows);
- ``pca``: PCA with as many components, fitted on the new subject's k sessions alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from sklearn.decomposition import PCA

from bold5000_ae.data.multi_subject import MultiSubjectDataModule, SubjectData
from bold5000_ae.models.build import build_model
from bold5000_ae.models.shared_latent import SharedLatentModule

Array = np.ndarray


@dataclass
class Fitted:
    encode: Callable[[Array], Array]
    reconstruct: Callable[[Array], Array]


def fit_trainer(module: L.LightningModule, data: MultiSubjectDataModule, seed: int,
                steps: int | None = None, epochs: int | None = None) -> None:
    """``epochs``, or about ``steps`` optimizer steps (whole epochs); no validation, no logs,
    on the CPU."""
    L.seed_everything(seed, workers=True)
    data.setup()
    if epochs is None:
        epochs = max(1, math.ceil((steps or 1) / max(len(data.train_dataloader()), 1)))
    L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
              enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
              limit_val_batches=0, num_sanity_val_steps=0).fit(module, data)


def _torch_fitted(module: SharedLatentModule, subject: int) -> Fitted:
    module.eval()

    def run(fn: Callable[[torch.Tensor, int], torch.Tensor], x: Array) -> Array:
        with torch.no_grad():
            return fn(torch.from_numpy(np.ascontiguousarray(x, np.float32)), subject).numpy()

    return Fitted(lambda x: run(module.embed, x), lambda x: run(module, x))


def pretrain_shared(model_cfg: DictConfig, pool: MultiSubjectDataModule, steps: int,
                    seed: int) -> dict[str, torch.Tensor]:
    """The shared model trained on the pool subjects; returns its weights (reused per k)."""
    torch.manual_seed(seed)
    pool.setup()
    module = build_model(model_cfg, pool)
    fit_trainer(module, pool, seed, steps=steps)
    return {k: v.clone() for k, v in module.state_dict().items()}


def shared(model_cfg: DictConfig, pool: MultiSubjectDataModule, weights: dict[str, torch.Tensor],
           new: MultiSubjectDataModule, subject: int, epochs: int, seed: int) -> Fitted:
    module = build_model(model_cfg, pool)
    module.load_state_dict(weights)
    module.adapt_to(subject, new.n_voxels[subject])
    fit_trainer(module, new, seed, epochs=epochs)
    return _torch_fitted(module, subject)


def alone(model_cfg: DictConfig, new: MultiSubjectDataModule, subject: int, epochs: int,
          seed: int) -> Fitted:
    torch.manual_seed(seed)
    module = build_model(model_cfg, new)
    fit_trainer(module, new, seed, epochs=epochs)
    return _torch_fitted(module, subject)


def pca(train: Array, k: int) -> Fitted:
    """Exact (full SVD): sklearn's automatic choice is a randomized solver at these sizes,
    whose unseeded draws moved R² in the third decimal from run to run."""
    model = PCA(n_components=min(k, *train.shape), svd_solver="full").fit(train)
    return Fitted(model.transform, lambda x: model.inverse_transform(model.transform(x)))


def _by_pair(sub: SubjectData, rows: Array, x: Array) -> pd.DataFrame:
    """Rows averaged per (image name, offset): one column per voxel, indexed by the pair."""
    names = np.asarray(sub.image_names, dtype=object)[sub.trials.image_index.to_numpy()[rows]]
    keys = pd.MultiIndex.from_arrays([names, sub.trials.offset_s.to_numpy()[rows]])
    return pd.DataFrame(x, index=keys).groupby(level=[0, 1]).mean()


def _reduced(sub: SubjectData, d: int) -> tuple[PCA, pd.DataFrame]:
    """The subject's own PCA-d (its training rows), and its training rows in it, per pair."""
    train = sub.bold["train"]
    reduce = PCA(n_components=min(d, *train.shape), svd_solver="full").fit(train)
    return reduce, _by_pair(sub, sub.rows("train"), reduce.transform(train))


def srm(pool: list[SubjectData], new: SubjectData, k: int, d: int, seed: int) -> Fitted:
    """fastsrm wants one voxel count for every subject; subjects here have their own masks,
    so each subject is first reduced to d dimensions by its own PCA (fitted on its own
    training rows), and the SRM runs on those."""
    from fastsrm.identifiable_srm import IdentifiableFastSRM  # late: only this method needs it

    tables = [_reduced(s, d)[1] for s in pool]
    common = tables[0].index
    for t in tables[1:]:
        common = common.intersection(t.index)
    model = IdentifiableFastSRM(n_components=k, n_iter=100, random_state=seed, verbose=False,
                                aggregate="mean")
    model.fit([t.loc[common].to_numpy().T for t in tables])
    group = model.transform([t.loc[common].to_numpy().T for t in tables])  # (k, pairs)
    reduce, mine = _reduced(new, d)
    pairs = mine.index.intersection(common)
    model.add_subjects([mine.loc[pairs].to_numpy().T], group[:, common.get_indexer(pairs)])
    index = len(pool)  # the new subject's basis is appended after the pool's

    def encode(x: Array) -> Array:
        return model.transform([reduce.transform(x).T], subjects_indexes=[index]).T

    def reconstruct(x: Array) -> Array:
        shared_x = model.inverse_transform(encode(x).T, subjects_indexes=[index])[0].T
        return reduce.inverse_transform(shared_x)

    return Fitted(encode, reconstruct)


def new_subject_data(data_cfg: DictConfig, subject: int, sessions: int) -> MultiSubjectDataModule:
    data = instantiate(data_cfg, subjects=[subject], train_sessions=sessions)
    data.setup()
    return data
